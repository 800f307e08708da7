"""``python -m vi_async``: the command line (see :mod:`vi_async.cli`)."""

import sys

from vi_async.cli.main import main

sys.exit(main())
