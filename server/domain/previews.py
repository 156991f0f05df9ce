"""Image facts and thumbnails with Pillow, bounded against hostile input.

Decompression bombs: an image's header states its size before any pixel is decoded, so `probe`
and `thumbnail` refuse anything over MAX_PIXELS (a 10 KB PNG can claim 50 000 x 50 000 pixels,
10 GB decoded), and inputs over MAX_INPUT_BYTES never reach the decoder. Decoding runs in a worker
thread, at most PARALLEL at a time (the server's CPU is shared with the event loop).

Thumbnails are generated once per (blob, size bucket) and kept next to the blobs
(storage/blobs.py `previews/`); a sweep that removes a blob removes its previews.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import trio
from PIL import Image, UnidentifiedImageError

from .filetypes import PREVIEWABLE

MAX_PIXELS = 40_000_000          # 40 megapixels, e.g. 8000 x 5000
MAX_INPUT_BYTES = 50 * 1024 * 1024
SIZES = (64, 256, 512, 1024)     # thumbnail buckets (the longer side, in pixels)
PARALLEL = 1
Image.MAX_IMAGE_PIXELS = MAX_PIXELS   # Pillow's own guard, as a second line


@dataclass(frozen=True, slots=True)
class ImageFacts:
    width: int
    height: int


def probe(path: Path, mimetype: str, size: int) -> ImageFacts | None:
    """Width and height from the header (no pixels decoded), or None when the file is not an
    image we would preview: wrong type, too big, too many pixels, or not decodable."""
    if mimetype not in PREVIEWABLE or size > MAX_INPUT_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                    return None
                if image.format is None or Image.MIME.get(image.format) != mimetype:
                    return None
                return ImageFacts(width, height)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, SyntaxError):
        return None


def bucket(x: int | None, y: int | None) -> int:
    """The smallest size bucket covering the requested box (default 256)."""
    wanted = max(x or 0, y or 0) or 256
    return next((s for s in SIZES if s >= wanted), SIZES[-1])


def preview_ext(mimetype: str) -> str:
    """JPEG photos stay JPEG (small); everything else becomes PNG (keeps transparency)."""
    return "jpg" if mimetype == "image/jpeg" else "png"


def _render(source: Path, target: Path, size: int, ext: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if image.size[0] * image.size[1] > MAX_PIXELS:
                    return False
                image.draft("RGB", (size, size))   # JPEG: decode at a reduced scale directly
                image.seek(0)                       # animated GIF/WebP: the first frame
                frame = image.convert("RGBA" if ext == "png" else "RGB")
                frame.thumbnail((size, size))
                temp = target.with_name(target.name + f".{os.getpid()}.tmp")
                frame.save(temp, "PNG" if ext == "png" else "JPEG", **({"quality": 85} if ext == "jpg" else {}))
                os.replace(temp, target)
                return True
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, SyntaxError, EOFError):
        return False


class PreviewCache:
    """Makes each thumbnail once; concurrent requests for the same one wait for the first."""

    def __init__(self) -> None:
        self._locks: dict[Path, trio.Lock] = {}
        self.limiter = trio.CapacityLimiter(PARALLEL)

    async def get(self, source: Path, target: Path, size: int, ext: str) -> bool:
        if target.is_file():
            return True
        lock = self._locks.setdefault(target, trio.Lock())
        try:
            async with lock:
                if target.is_file():
                    return True
                return await trio.to_thread.run_sync(_render, source, target, size, ext, limiter=self.limiter)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(target, None)

    async def probe(self, path: Path, mimetype: str, size: int) -> ImageFacts | None:
        return await trio.to_thread.run_sync(probe, path, mimetype, size, limiter=self.limiter)
