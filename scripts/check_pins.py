"""Check that each distribution is installed at exactly its pin (``nox -s minimums``).

    python scripts/check_pins.py aiohttp==3.9 cattrs==24.1 ...

Prints each installed version; exits 1 naming those not at their pin.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

from packaging.version import Version


def main(pins: list[str]) -> int:
    """Compare each ``name==version`` pin with the installed distribution."""
    wrong = []
    for pin in pins:
        name, _, wanted = pin.partition("==")
        installed = version(name)
        print(f"{name:>18} {installed}")
        if Version(installed) != Version(wanted):
            wrong.append(f"{name} {installed} (wanted {wanted})")
    if wrong:
        print("not at the minimums: " + ", ".join(wrong), file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
