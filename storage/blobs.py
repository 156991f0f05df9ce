"""A content-addressed file store under `<data_dir>/files/`: each blob is named by the sha256 of its
bytes, so two uploads of the same bytes share one file. Filesystem only: no SQL, no trio.

Layout: `files/ab/cd/abcd…` (two levels of fan-out keep directories small), `files/tmp/` for
uploads in progress, `files/previews/` for generated thumbnails (`<sha256>-<size>.<ext>`).

Durability: an upload is written to a temp file, fsynced, then renamed onto its final name and
the directory fsynced, so a blob that exists under its name is complete. Who may refer to a
blob is the database's business (storage/attachments.py); `publish` and `remove` are called
from inside units of work on the DB thread, which serialises them: a sweep can never remove a
file that an upload committed in between.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.previews = self.root / "previews"

    def prepare(self) -> None:
        """Create the directories; drop temp files left by uploads a crash interrupted."""
        for directory in (self.root, self.tmp, self.previews):
            directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def new_temp(self) -> "TempBlob":
        return TempBlob(self.tmp / secrets.token_hex(16))

    def publish(self, temp: "TempBlob") -> Path:
        """Move a finished, fsynced temp file onto its content address (atomic). If the blob is
        already there, the bytes are the same (same hash): the temp file is simply dropped."""
        final = self.path(temp.sha256)
        if final.is_file():
            temp.discard()
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.path, final)
        _fsync_dir(final.parent)
        return final

    def remove(self, sha256: str) -> None:
        """Delete a blob and its previews (missing files are fine: a sweep may repeat)."""
        self.path(sha256).unlink(missing_ok=True)
        for preview in self.previews.glob(f"{sha256}-*"):
            preview.unlink(missing_ok=True)

    def preview_path(self, sha256: str, size: int, ext: str) -> Path:
        self.path(sha256)   # validates the name
        return self.previews / f"{sha256}-{size}.{ext}"


class TempBlob:
    """An upload being received: bytes are appended and hashed as they arrive, never held whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "xb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""   # the first bytes, kept for content sniffing (server/domain/filetypes.py)
        self._sha256: str | None = None

    HEAD_BYTES = 4096

    def write(self, data: bytes) -> None:
        if len(self.head) < self.HEAD_BYTES:
            self.head += data[:self.HEAD_BYTES - len(self.head)]
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> str:
        """Flush and fsync (blocking: run it in a worker thread); returns the sha256."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._sha256 = self._hash.hexdigest()
        return self._sha256

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            raise RuntimeError("finish() the temp blob before asking for its hash")
        return self._sha256

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
