"""Run the local Vi server: ``python -m vi_async.local --port 8700 --db vi.sqlite``."""

import sys

from vi_async.local.cli import main

sys.exit(main())
