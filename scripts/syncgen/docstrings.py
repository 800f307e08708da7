"""Docstrings of vi_sync: copied from vi_async with the async wording rewritten."""

from __future__ import annotations

import re

from .errors import GenerationError

#: Docstring rewrites, applied in order (regex, replacement).
DOC_REWRITES: list[tuple[str, str]] = [
    (
        r"``await`` the result for the first page",
        "read ``.items`` / ``.next_page`` for the first page",
    ),
    (r"``await client\.close\(\)``", "``client.close()``"),
    (
        r"``await pager`` gives the first(\s+)page,",
        r"``pager.items`` holds the first\1page's items,",
    ),
    (r"^Async client\b", "Client"),
    (r"\bThe async client\b", "The client"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\baclosing\b", "closing"),
    (r"\bAsyncPager\b", "SyncPager"),
    (r"``vi_async\.Client``", "``vi_sync.Client``"),
]


def rewrite_doc(doc: str) -> str:
    """Apply DOC_REWRITES to a docstring."""
    for pattern, replacement in DOC_REWRITES:
        doc = re.sub(pattern, replacement, doc)
    return doc


def render_docstring(doc: str | None, indent: str) -> list[str]:
    """A docstring's source lines at ``indent`` (none for no docstring)."""
    if not doc:
        return []
    doc = rewrite_doc(doc)
    if '"""' in doc or "\\" in doc:
        raise GenerationError(f"docstring needs escaping: {doc[:60]!r}")
    lines = doc.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out += [f"{indent}{line}" if line else "" for line in lines[1:]]
    out.append(f'{indent}"""')
    return out


PACKAGE_DOC = """vi_sync: the blocking twin of vi_async, for scripts and notebooks.

Same classes, methods, parameters and docstrings as vi_async, without ``await``:

    import vi_sync as vi

    with vi.Client() as client:  # or client = vi.Client(); ...; client.close()
        for flow in client.flows.list().all_items():
            print(flow.flow_id)
        run = client.runs.create(flow="flow_id")
        run = client.runs.wait_for(run.run_id)

Each client runs vi_async on its own event-loop thread (an anyio blocking
portal), started on first use and stopped by ``close()``. It works inside a
running event loop (Jupyter), from several threads at once, and after a fork.
Ctrl-C cancels the call in progress. Callbacks such as ``on_update`` run on the
client's loop thread and must not call the client (that raises RuntimeError).
Models and errors are the vi_async classes themselves.

This package is generated from vi_async by scripts/generate_sync.py."""
