"""Extracting a model archive into a fresh directory, never outside it.

Guarantees: only regular files and directories are extracted. A link
(symbolic or hard), device, FIFO or sparse member, a name that is absolute,
climbs with ``..`` or nests deeper than MAX_DEPTH, and a second member with a
file's name are refused outright: a model needs none of them. Every path is
created below a directory made here, one component at a time relative to its
parent's descriptor, without following links (``O_NOFOLLOW``, ``O_EXCL``), so
no link, extracted or planted, can lead a write elsewhere; tarfile's own
extraction, and its ``data`` filter, are never used. Bombs are refused: the
files may hold at most :attr:`Limits.total` bytes (MAX_RATIO times the
archive's declared size, and never more than the caller's ceiling), the
archive at most MAX_MEMBERS members, and a compressed archive may not expand
more than MAX_RATIO times what was read of it so far. Every failure is a
:class:`ViDownloadError`.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import attrs

from ..errors import ViDownloadError
from .prefix import FollowingReader, Prefix

COPY_BLOCK = 1024 * 1024
SYNC_EVERY = 32 * 1024 * 1024
MAX_MEMBERS = 1024
MAX_DEPTH = 32
# Weights barely compress; run.json and configs do, hence the slack.
MAX_RATIO = 20
RATIO_SLACK = 8 * 1024 * 1024

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | _NOFOLLOW
_AT = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd


@attrs.frozen
class Limits:
    """What an archive may expand to: its declared size and the caller's ceiling."""

    archive_size: int
    max_bytes: int

    @property
    def total(self) -> int:
        """The most bytes the extracted files may hold."""
        return min(self.max_bytes, self.archive_size * MAX_RATIO + RATIO_SLACK)


def _refuse(name: str, why: str) -> ViDownloadError:
    return ViDownloadError(f"Refusing archive member {name!r}: {why}")


def _parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    """The path components of an acceptable member; raises for any other."""
    name = member.name
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise _refuse(name, "it escapes the target")
    if len(parts) > MAX_DEPTH or not (parts or member.isdir()):
        raise _refuse(name, f"not a path of 1 to {MAX_DEPTH} components")
    if member.issym() or member.islnk():
        raise _refuse(name, "a link (a model archive holds only files and directories)")
    if member.sparse is not None or member.type == tarfile.GNUTYPE_SPARSE:
        raise _refuse(name, "a sparse file")
    if not (member.isreg() or member.isdir()):
        raise _refuse(name, "not a file or directory")
    return parts  # () for the archive's root directory ("./")


class _Budget:
    """Members and bytes extracted so far, against the archive's limits."""

    def __init__(self, limits: Limits, raw: FollowingReader) -> None:
        self._limits = limits
        self._raw = raw
        self.members = 0
        self.reserved = 0  # declared sizes of the members admitted
        self.written = 0  # bytes written by the decompressing path

    def admit(self, member: tarfile.TarInfo) -> None:
        """Count ``member`` in; raises when the archive exceeds a limit."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise ViDownloadError(f"Refusing the model archive: more than {MAX_MEMBERS} members")
        self.reserved += member.size
        total = self._limits.total
        if self.reserved > total:
            which = (
                "max_bytes"
                if total == self._limits.max_bytes
                else f"{MAX_RATIO} times the archive's size"
            )
            raise _refuse(member.name, f"the files would be larger than {total} bytes ({which})")

    def charge(self, n: int) -> None:
        """Count ``n`` decompressed bytes written; raises on a runaway ratio."""
        self.written += n
        if self.written > MAX_RATIO * self._raw.tell() + RATIO_SLACK:
            raise ViDownloadError(
                f"Refusing the model archive: its compression ratio exceeds {MAX_RATIO}"
            )


class _Tree:
    """A directory made here, and entries created below it without following links."""

    def __init__(self, root: Path) -> None:
        root.mkdir()  # fresh: fails if anything is already there
        self._root = root
        self._fd = os.open(root, _DIRECTORY) if _AT else -1

    def close(self) -> None:
        """Release the root's descriptor."""
        if self._fd >= 0:
            os.close(self._fd)

    def directory(self, parts: tuple[str, ...]) -> int:
        """A descriptor of ``parts`` below the root, created where missing (the
        caller closes it; -1 where the OS has no ``dir_fd``)."""
        if not _AT:  # Windows: links were refused and the root is fresh
            self._root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            return -1
        fd = os.dup(self._fd)
        for part in parts:
            try:
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd

    def create(self, name: str, parts: tuple[str, ...], mode: int) -> int:
        """A new file at ``parts``, open for writing; refuses one already there."""
        parent = self.directory(parts[:-1])
        try:
            if parent < 0:
                return os.open(self._root.joinpath(*parts), _NEW_FILE, mode)
            return os.open(parts[-1], _NEW_FILE, mode, dir_fd=parent)
        except FileExistsError:
            raise _refuse(name, "a second member of that name") from None
        finally:
            if parent >= 0:
                os.close(parent)


def _sync(fd: int) -> None:
    os.fdatasync(fd) if hasattr(os, "fdatasync") else os.fsync(fd)


def _copy_range(src: int, dst: int, offset: int, size: int, prefix: Prefix) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src`` to ``dst``, in the kernel when it
    can, each piece once the archive's written prefix covers it."""
    stop = offset + size
    unsynced = 0
    while offset < stop:
        available = min(stop, prefix.wait_until(min(stop, offset + prefix.step)))
        try:
            n = os.copy_file_range(src, dst, available - offset, offset)
        except OSError:  # another filesystem without support, or no such syscall
            n = os.write(dst, os.pread(src, min(available - offset, COPY_BLOCK), offset))
        if n <= 0:
            raise ViDownloadError("The model archive is truncated")
        offset += n
        unsynced += n
        if unsynced >= SYNC_EVERY:  # write back as we go: the final fsync is then short
            _sync(dst)
            unsynced = 0


def _stream(tar: tarfile.TarFile, member: tarfile.TarInfo, dst: int, budget: _Budget) -> None:
    """Write ``member``'s data through tarfile (compressed archives), counting it."""
    source = tar.extractfile(member)
    if source is None:
        raise ViDownloadError(f"The model archive's member {member.name!r} has no data")
    unsynced = 0
    with source:
        while block := source.read(COPY_BLOCK):
            view = memoryview(block)
            while view:
                view = view[os.write(dst, view) :]
            budget.charge(len(block))
            unsynced += len(block)
            if unsynced >= SYNC_EVERY:
                _sync(dst)
                unsynced = 0


def _walk(
    tar: tarfile.TarFile, raw: FollowingReader, tree: _Tree, limits: Limits, fast: bool
) -> None:
    """Extract every member of ``tar`` into ``tree``, checking each one first."""
    budget = _Budget(limits, raw)
    for member in tar:
        parts = _parts(member)
        budget.admit(member)
        if not parts:
            continue
        if member.isdir():
            fd = tree.directory(parts)
            if fd >= 0:
                os.close(fd)
            continue
        out = tree.create(member.name, parts, 0o755 if member.mode & 0o100 else 0o644)
        try:
            if fast:
                _copy_range(raw.fileno(), out, member.offset_data, member.size, raw.prefix)
            else:
                _stream(tar, member, out, budget)
            if member.size:
                os.fsync(out)
        finally:
            os.close(out)


def extract(archive: Path, into: Path, limits: Limits, prefix: Prefix | None = None) -> None:
    """Extract ``archive`` into the new directory ``into``, member by member.

    With ``prefix``, the archive is still being written: every read waits
    until the prefix covers it, so extraction runs alongside the download.
    Files of an uncompressed archive are copied by offset (in the kernel where
    possible); a compressed archive's are decompressed by tarfile and written
    here. Files are synced to disk as they are written.

    Args:
        archive: The archive (being) downloaded.
        into: The directory to create and extract into; it must not exist.
        limits: What the archive may expand to.
        prefix: How much of ``archive`` is written, when it is still arriving.

    Raises:
        ViDownloadError: An unsafe member, a bomb, or an unreadable archive.
        Aborted: The transfer gave up (from ``prefix``).
    """
    if prefix is None:
        size = archive.stat().st_size
        prefix = Prefix(size, end=size)
    try:
        tree = _Tree(into)
        try:
            with FollowingReader(archive, prefix) as raw:
                try:
                    tar = tarfile.open(fileobj=raw, mode="r:")
                    fast = hasattr(os, "copy_file_range")
                except tarfile.ReadError:
                    raw.seek(0)
                    tar, fast = tarfile.open(fileobj=raw, mode="r:*"), False
                with tar:
                    _walk(tar, raw, tree, limits, fast)
        finally:
            tree.close()
    except ViDownloadError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ViDownloadError(f"The model archive could not be extracted: {exc}") from None
