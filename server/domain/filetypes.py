"""Pure rules for uploaded files: a safe display name, the type the bytes really are, the type a
download may be served as, the §9.3 item type, and the Content-Disposition header.

Nothing the client says about a file is trusted for serving: the part's Content-Type is ignored,
and the name's extension only counts for types that cannot be recognised by their first bytes
(text, office documents…). A name claiming an image, audio, video or PDF type whose bytes do not
match is stored as application/octet-stream. Whatever the type, downloads are attachments, and
only the types in SERVE_AS are sent under their own Content-Type; HTML, SVG, XML, JavaScript and
everything else unknown go out as application/octet-stream.
"""
from __future__ import annotations

import mimetypes
import unicodedata
from urllib.parse import quote

OCTET_STREAM = "application/octet-stream"
MAX_NAME = 255   # code points, as most filesystems allow

# Types a browser cannot execute as a document when sent with nosniff and `sandbox` CSP.
SERVE_AS = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/mp4",
    "video/mp4", "video/webm", "video/ogg",
    "application/pdf", "text/plain", "text/csv",
    "application/zip", "application/gzip",
})

# Types recognised by their bytes; a name claiming one of them must match (see `detect`).
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_SNIFFED_FAMILIES = ("image/", "audio/", "video/", "application/pdf")


def safe_name(raw: str | None) -> str:
    """The display name of an upload: the last path segment (no directories, `..` or drive
    letters), no control or bidi-override characters, trimmed, at most 255 code points (the
    extension is kept when shortening). '' when nothing usable is left."""
    if not raw:
        return ""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name)
                   if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    name = name.strip()
    if name.strip(".") == "":   # "", ".", "..", "...": nothing but path syntax
        return ""
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[:MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME]
    return name


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes, for the formats that have a signature."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    return None


def _by_name(name: str) -> str | None:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed


def detect(name: str, head: bytes) -> str:
    """The stored mimetype: what the bytes are when they say so; else what the name says, unless
    the name claims a type with a signature the bytes lack (a "photo.png" that is HTML)."""
    by_name = _by_name(name)
    sniffed = sniff(head)
    if sniffed is not None:
        # Containers shared by several types: trust the name for the finer type.
        if sniffed == "audio/ogg" and by_name in ("video/ogg", "audio/ogg"):
            return by_name
        if sniffed == "video/mp4" and by_name in ("audio/mp4", "video/quicktime", "video/mp4"):
            return by_name
        if sniffed == "video/webm" and by_name in ("audio/webm", "video/webm", "video/x-matroska"):
            return by_name
        if sniffed == "application/zip" and by_name and by_name != "application/zip" \
                and not by_name.startswith(_SNIFFED_FAMILIES):
            return by_name   # docx, odt, epub… are zip files
        return sniffed
    if by_name is None or by_name.startswith(_SNIFFED_FAMILIES) and by_name != "image/svg+xml":
        return OCTET_STREAM
    return by_name


def served_type(mimetype: str) -> str:
    """The Content-Type a download is sent with."""
    return mimetype if mimetype in SERVE_AS else OCTET_STREAM


def item_type(mimetype: str, voice: bool = False) -> str:
    """§9.3: voice messages are `voice`, audio `audio`, images and video `media`, the rest `file`."""
    if voice:
        return "voice"
    if mimetype.startswith("audio/"):
        return "audio"
    if mimetype.startswith(("image/", "video/")) and mimetype != "image/svg+xml":
        return "media"
    return "file"


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII `filename` fallback for old agents and the exact name in `filename*`."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in name) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
