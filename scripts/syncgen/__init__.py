"""syncgen: generates the ``vi_sync`` package from the ``vi_async`` code.

The generator imports ``vi_async`` and reads its source (``inspect`` for what
exists, ``ast`` for signatures, defaults and docstrings as written), so a
method added to vi_async shows up in vi_sync on the next run with no change
here. It writes real source: explicit classes and methods with full
signatures, type hints and docstrings, which IDEs and ``mypy --strict`` read.

Rules:

- The wrapped classes are the exported classes of ``vi_async`` with an async
  surface (coroutine or async-generator methods, ``__aiter__``, ``__await__``,
  ``__aenter__``), plus every such class they reach through method return types
  and public attributes set in ``__init__``. Each becomes a class of the same
  name (``Async*`` becomes ``Sync*``) in the mirrored module of ``vi_sync``.
- ``async def`` -> a blocking method (``SyncRuntime.call``); async generators
  and methods returning ``AsyncIterator``/``AsyncIterable``/``AsyncGenerator``
  -> a generator (``SyncRuntime.iterate``); a method returning a wrapped class
  -> its sync twin; ``__aiter__`` -> ``__iter__``; ``__aenter__``/``__aexit__``
  -> ``__enter__``/``__exit__``; ``__await__`` -> ``first_page()`` (for
  ``AsyncPager``; ``result()`` otherwise), the awaited attrs object's fields
  becoming lazy properties of the same names (``pager.items``); properties and
  public class constants are copied or delegated.
- The root class (``vi_async.Client``) owns the runtime: its ``__init__``
  builds the async client (again in a forked child) and its ``close()`` stops
  the event-loop thread.
- Every other public name is re-exported, the same object: models and errors
  are shared by both packages.
- Docstrings are copied with ``await``/``async with``/``async for`` rewritten.

Anything the rules do not cover stops the generation with an error rather than
producing a sync method that would hand back an async object.

Modules, in the order the generation uses them:

- ``settings``: package names, fixed names, line length; ``errors``: GenerationError.
- ``source``: vi_async's source as written (``ast`` nodes, names, imports).
- ``discover``: which classes to wrap (``Registry``) and their sync names.
- ``type_mapping``: async -> sync annotations (``TypeWriter``).
- ``signatures``: parameters and ``def`` lines; ``layout``: line wrapping.
- ``docstrings``: docstrings with the async wording rewritten.
- ``class_writer`` / ``awaited_fields``: the source of one sync class.
- ``module_writer``: every file of vi_sync, as text.
- ``files``: writing those files or diffing them against disk; ``cli``: the command line.
"""

from __future__ import annotations

from .cli import main
from .errors import GenerationError

__all__ = ["GenerationError", "main"]
