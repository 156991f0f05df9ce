"""The data-directory lock: `parley serve` holds an exclusive flock on <data dir>/parley.lock for
as long as it serves, so `parley restore` can tell reliably whether a server uses that directory
(and a second server on the same directory refuses to start instead of sharing it).

Why flock and not a PID file: the kernel drops the lock when the process dies, however it dies
(kill -9, OOM), so there is never a stale lock to clean up and never a recycled PID to misread.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "parley.lock"


class DataDirBusy(Exception):
    """Another process holds the lock."""

    def __init__(self, data_dir: str | Path) -> None:
        super().__init__(f"a Parley server is running on the data directory {data_dir}")
        self.data_dir = str(data_dir)


class DataDirLock:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        """Take the lock without waiting; raises DataDirBusy if someone holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(self.path.parent) from None
        # For people looking at the directory; nothing reads it back.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
