"""One process per run folder: an OS lock on the folder itself, held for as long as the job runs.

flock() on the folder's own file descriptor writes nothing, is released by the OS when the process dies
(a SIGKILL leaves no stale lock), and conflicts between two jobs of one process too (the basic and joblib
launchers run several jobs in a process). Network filesystems that cannot lock a folder get a warning.
"""

import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class FolderBusy(RuntimeError):
    """Another uvb-train job holds the run folder."""


def _open(run_dir: Path) -> int:
    return os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)


def _try_lock(fd: int, run_dir: Path) -> bool:
    """True if this fd now holds the lock, False if the filesystem cannot lock; FolderBusy if another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise FolderBusy(
                f"{run_dir} is in use by another uvb-train job (it holds the folder's lock); "
                "wait for it to end, or stop it, then run this command again"
            ) from error
        log.warning("cannot lock %s on this filesystem (%s): make sure no other job uses the folder", run_dir, error)
        return False


@contextmanager
def hold(run_dir: Path) -> Iterator[None]:
    """Hold run_dir's lock (the folder must exist); FolderBusy at once if another job holds it."""
    fd = _open(run_dir)
    try:
        _try_lock(fd, run_dir)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holder(folder: Path) -> int | None:
    """The process id holding a flock() on folder, from the kernel's table of locks (Linux's /proc/locks); None where
    it cannot be told (another system, a lock taken on another machine of a network filesystem)."""
    try:
        stat = os.stat(folder)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    where = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in table.splitlines():  # "1: FLOCK  ADVISORY  WRITE 8582 fe:00:2162918 0 EOF"
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == where and fields[4].isdigit():
            return int(fields[4])
    return None


def check_free(run_dir: Path) -> None:
    """FolderBusy if another job holds run_dir's lock now; a folder that does not exist is free."""
    if not run_dir.is_dir():
        return
    fd = _open(run_dir)
    try:
        _try_lock(fd, run_dir)
    finally:
        os.close(fd)
