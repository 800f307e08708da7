"""The fenced code blocks of the README and of the documentation pages (docs/).

tests/test_readme.py runs every python block through ``run_block``; other tests
read one page's blocks from here (tests/observability/test_observability_page.py).
A block that appears on several pages (the quick starts are in the README and in
docs/getting-started.md) is one block, run once, named after its first page.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced block: ``id`` names its page and section (``waiting-watching-runs-9``)."""

    id: str
    page: Path
    language: str
    code: str

    @property
    def is_pytest_module(self) -> bool:
        """A block defining test functions runs under pytest rather than as a script."""
        return re.search(r"^(async )?def test_", self.code, re.M) is not None


def fenced_blocks(language: str, pages: list[Path] = PAGES) -> list[Block]:
    """Each distinct fenced block in ``language`` of ``pages``, in page order."""
    found: list[Block] = []
    seen: set[str] = set()
    for page in pages:
        text = page.read_text()
        stem = "readme" if page == README else page.relative_to(DOCS).with_suffix("").as_posix()
        for match in FENCE.finditer(text):
            code = match.group(2)
            if match.group(1) != language or code in seen:
                continue
            seen.add(code)
            headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.M)
            section = headings[-1] if headings else "top"
            slug = re.sub(r"\W+", "-", f"{stem}-{section}").strip("-").lower()
            found.append(Block(f"{slug}-{len(found) + 1}", page, language, code))
    return found


def run_block(block: Block, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a python block in a fresh interpreter with warnings as errors, from ``folder``."""
    script = folder / f"{block.id.replace('-', '_')}.py"
    script.write_text(block.code)
    if block.is_pytest_module:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"]
    else:
        command = [sys.executable, "-W", "error"]
    return subprocess.run(
        [*command, str(script)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
