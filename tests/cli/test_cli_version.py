"""``vi-async --version`` answers without the ``cli`` extra (rich), as a package smoke
test and a bug report need it to."""

from __future__ import annotations

import subprocess
import sys

from vi_async import __version__

NO_RICH = "import sys; sys.modules['rich'] = None; from vi_async.cli import main; sys.exit(main())"


def test_version_without_the_cli_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_RICH, "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"vi-async {__version__}\n"
    assert done.stderr == ""


def test_other_commands_still_name_the_missing_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_RICH, "flows", "list"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "pip install 'vi-async[cli]'" in done.stderr
