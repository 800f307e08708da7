"""Check what a built sdist and wheel hold (``nox -s package`` runs it on both).

    python scripts/check_dist.py dist/vi_async-X.tar.gz dist/vi_async-X-py3-none-any.whl

The wheel holds only the two packages (each with its ``py.typed``) and its
metadata, the license text among them; the sdist holds the license too. Both
carry the PEP 639 license expression and the version of ``vi_async/_version.py``.
Exits 1 naming every problem.
"""

from __future__ import annotations

import email
import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vi_async", "vi_sync")


def _version() -> str:
    text = (ROOT / "vi_async" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert match, "vi_async/_version.py has no __version__"
    return match.group(1)


def _check_metadata(label: str, metadata: str, problems: list[str]) -> None:
    message = email.message_from_string(metadata)
    if message["License-Expression"] != "Apache-2.0":
        problems.append(f"{label}: License-Expression is {message['License-Expression']!r}")
    if "LICENSE" not in (message.get_all("License-File") or []):
        problems.append(f"{label}: no License-File: LICENSE")
    if message["Version"] != _version():
        problems.append(f"{label}: version {message['Version']} != _version.py {_version()}")
    if message.get("License"):
        problems.append(f"{label}: the legacy License field is set")


def check_wheel(path: Path, problems: list[str]) -> None:
    """Only vi_async/ and vi_sync/ (each typed) and the dist-info, LICENSE included."""
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        [dist_info] = {name.split("/")[0] for name in names if ".dist-info/" in name}
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
    tops = {name.split("/")[0] for name in names} - {dist_info}
    if tops != set(PACKAGES):
        problems.append(f"wheel: top-level entries {sorted(tops)}, expected {list(PACKAGES)}")
    for package in PACKAGES:
        if f"{package}/py.typed" not in names:
            problems.append(f"wheel: no {package}/py.typed")
    if "Apache License" not in license_text or "Version 2.0" not in license_text:
        problems.append("wheel: the LICENSE is not the Apache-2.0 text")
    _check_metadata("wheel", metadata, problems)


def check_sdist(path: Path, problems: list[str]) -> None:
    """The license text, the sources of both packages and the PKG-INFO."""
    with tarfile.open(path) as sdist:
        names = sdist.getnames()
        root = names[0].split("/")[0]
        pkg_info = sdist.extractfile(f"{root}/PKG-INFO")
        assert pkg_info is not None
        metadata = pkg_info.read().decode()
    for needed in ("LICENSE", "pyproject.toml", "vi_async/py.typed", "vi_sync/py.typed"):
        if f"{root}/{needed}" not in names:
            problems.append(f"sdist: no {needed}")
    _check_metadata("sdist", metadata, problems)


def main(paths: list[str]) -> int:
    """Check each path (a .whl or a .tar.gz); print the problems and return 1 if any."""
    problems: list[str] = []
    for path in map(Path, paths):
        if path.suffix == ".whl":
            check_wheel(path, problems)
        elif path.name.endswith(".tar.gz"):
            check_sdist(path, problems)
        else:
            problems.append(f"{path.name}: neither a wheel nor an sdist")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ok: {', '.join(Path(path).name for path in paths)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
