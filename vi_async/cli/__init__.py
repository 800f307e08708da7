"""The ``vi-async`` / ``python -m vi_async`` command line.

::

    vi-async flows list|get|create|delete|cleanup|apply ...
    vi-async runs list|get|create|wait|watch|logs|kill|delete ...
    vi-async models list RUN_ID | download RUN_ID [--ckpt ID] [--dir DIR]
    vi-async local [--port 8700 --db vi-local.sqlite ...]   # the local Vi server
    vi-async demo                                           # the SDK tour, no account needed
    vi-async completion bash|zsh|fish                       # a shell completion script

Credentials come from DATATURE_VI_SECRET_KEY, DATATURE_VI_ORGANIZATION_ID and
DATATURE_VI_API_ENDPOINT, or from ``--secret-key`` / ``--organization-id`` /
``--endpoint``; the secret is never printed. ``--json`` prints JSON for
scripts. Exit codes: see ``EXIT_CODES``.

The terminal output needs ``rich``, the ``cli`` extra (``pip install
'vi-async[cli]'``); without it every command but ``local`` says so and exits 1.
"""

from .main import EXIT_CODES, MISSING_EXTRA, build_parser, main

__all__ = ["EXIT_CODES", "MISSING_EXTRA", "build_parser", "main"]
