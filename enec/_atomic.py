"""Atomic file output: write beside the target, fsync, then rename over it.

A reader of the target path sees either the old file or the complete new
one, never a prefix: an interrupted run (exception, Ctrl-C) leaves nothing
behind, because the context managers here remove their temporary. A run
killed outright (SIGKILL, power loss) cannot clean up, so temporaries carry
the writer's process id in their name (`.NAME.enec-PID-RANDOM.tmp`): the
next write to the same target removes those whose process is gone and
reports them (a warning naming each), and leaves a live writer's alone.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import warnings
from typing import IO, Iterator, List

_TAG = ".enec-"


class StaleTemporaryWarning(UserWarning):
    """A temporary left by a killed enec run was found and removed."""


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


def _prefix(path: str) -> str:
    return "." + os.path.basename(path) + _TAG


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale(path) -> List[str]:
    """Remove temporaries of path left by enec processes that no longer run; return their names."""
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(directory), glob.escape(_prefix(path)) + "*.tmp")):
        rest = os.path.basename(tmp)[len(_prefix(path)):]
        try:
            pid = int(rest.split("-", 1)[0])
        except ValueError:
            continue
        if _alive(pid):
            continue
        try:
            if os.path.isdir(tmp) and not os.path.islink(tmp):
                shutil.rmtree(tmp)
            else:
                os.unlink(tmp)
        except FileNotFoundError:
            continue
        removed.append(tmp)
        warnings.warn(f"removed {tmp}, left by an enec run that was killed (process {pid})",
                      StaleTemporaryWarning, stacklevel=3)
    return removed


def _mktemp(path: str, directory: bool) -> str:
    prefix = _prefix(path) + f"{os.getpid()}-"
    parent = os.path.dirname(os.path.abspath(path))
    if directory:
        return tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path) -> Iterator[str]:
    """Yield a temporary path in the target's directory; on success it is fsynced and renamed to path.

    For libraries that insist on writing a file name themselves."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.path.isfile(path):
        # a rename would replace a device, FIFO or directory entry with a plain file
        raise IsADirectoryError(f"{path}: exists and is not a regular file") if os.path.isdir(path) \
            else ValueError(f"enec: {path}: exists and is not a regular file; not replacing it")
    remove_stale(path)
    tmp = _mktemp(path, directory=False)
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
        with open(tmp, "w+b") as f:
            yield f


@contextlib.contextmanager
def atomic_dir(path, *, replace: bool = False) -> Iterator[str]:
    """Yield a temporary directory beside path; on success it is renamed to path.

    An existing path is refused (FileExistsError) unless replace=True, in which case the old
    directory is moved aside and removed only after the new one is in place."""
    path = os.path.abspath(os.fspath(path))
    remove_stale(path)
    if os.path.lexists(path) and not replace:
        raise FileExistsError(f"{path} exists")
    tmp = _mktemp(path, directory=True)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        old = None
        if os.path.lexists(path):
            old = _mktemp(path, directory=True)
            os.rmdir(old)
            os.rename(path, old)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.unlink(old)
    _fsync_dir(os.path.dirname(path))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
