"""Atomic file output: write beside the target, fsync, then rename over it.

A reader of the target path sees either the old file or the complete new
one, never a prefix: an interrupted run (exception, Ctrl-C, crash) leaves
at most a hidden temporary file, and the context managers here remove that
too whenever Python gets the chance.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


def _target_mode(path: str) -> int:
    """Permissions the file would get from a plain open(): mkstemp makes 0600 files."""
    try:
        return os.stat(path).st_mode & 0o7777  # replacing a file keeps its permissions
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def _fsync_dir(directory: str) -> None:
    # makes the rename itself durable; not every platform/filesystem allows it
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path) -> Iterator[str]:
    """Yield a temporary path in the target's directory; on success it is fsynced and renamed to path.

    For libraries that insist on writing a file name themselves."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _target_mode(path))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


@contextlib.contextmanager
def atomic_write(path) -> Iterator[IO[bytes]]:
    """Yield a binary file object; its content replaces path only if the block completes."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            yield f
