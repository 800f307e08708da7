"""Generate the ``vi_sync`` package from the ``vi_async`` code.

    python scripts/generate_sync.py            # rewrite vi_sync/ in place
    python scripts/generate_sync.py --check    # exit 1 if vi_sync/ is stale
    python scripts/generate_sync.py --output DIR
    nox -s generate

The generator itself is the ``syncgen`` package next to this script; its
docstring gives the rules.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from syncgen import main  # noqa: E402  (needs the paths above)

if __name__ == "__main__":
    sys.exit(main())
