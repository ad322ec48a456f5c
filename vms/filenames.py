"""File names a client sent, made safe to store, show and send back (issue 10, item 5).

A name comes from an uploader, a dock folder or a CLI import: anyone can put CR/LF (a
header injection, and werkzeug then refuses to build the response), NUL, path
separators, bidi overrides (U+202E shows the rest of a name backwards, hiding its real
extension) or a kilobyte of text in it. :func:`safe_filename` keeps what a person would
read and drops the rest; the name as sent is kept in the custody record of the ingest.
:func:`escaped` shows a name as it is, on one line (a log, a CLI line).
:func:`content_disposition` builds the ``Content-Disposition`` header of RFC 6266 with an
ASCII ``filename`` fallback and the exact name as ``filename*`` (RFC 5987/8187).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

# The catalog column holds this many characters (MediaItem.original_filename).
MAX_FILENAME_CHARS = 255
# The name as sent is kept (custody details) up to this many characters.
MAX_RAW_FILENAME_CHARS = 1024
# Unicode categories dropped: format characters (bidi overrides and isolates, zero-width
# joiners), surrogates, unassigned and private-use code points.
_DROPPED_CATEGORIES = frozenset({"Cf", "Cs", "Cn", "Co"})
# Controls (C0, C1: NUL, CR, LF, TAB...) and separators become spaces: "a\r\nb" reads "a b".
_SPACE_CATEGORIES = frozenset({"Cc", "Zs", "Zl", "Zp"})
# RFC 5987 attr-char besides ALPHA / DIGIT (quote() keeps those).
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"
# Characters that may not appear in the quoted ASCII fallback (RFC 6266 quoted-string).
_FALLBACK_UNSAFE = frozenset('"\\%')


def safe_filename(raw: str | None) -> str | None:
    """The last path component of ``raw`` without control, format or bidi characters,
    whitespace collapsed, leading dots and surrounding spaces removed, at most
    ``MAX_FILENAME_CHARS`` characters (the extension kept); None when nothing is left."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", str(raw))
    # Both separators: a Windows path sent from a browser on Windows is still a path.
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _DROPPED_CATEGORIES:
            continue
        kept.append(" " if category in _SPACE_CATEGORIES else ch)
    name = " ".join("".join(kept).split()).lstrip(". ").rstrip(" ")
    if not name:
        return None
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip()
    return name


def escaped(value: object) -> str:
    """``str(value)`` on one line, every control or format character (a newline that
    would start a log line of its own, a right-to-left override) written as Python
    escapes it (``\\n``, ``\\u202e``): for a name shown as it is, in a log or a CLI line,
    that no name can forge (TAG-5)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(value))


def ascii_fallback(name: str) -> str:
    """``name`` in printable ASCII for the plain ``filename`` parameter: accents
    decomposed, other characters replaced by ``_``, no quote, backslash or percent."""
    decomposed = unicodedata.normalize("NFKD", name)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if 0x20 <= ord(ch) < 0x7F and ch not in _FALLBACK_UNSAFE:
            out.append(ch)
        else:
            out.append("_")
    return "".join(out).strip() or "download"


# The names a file of each served content type may end with (the probe's containers and
# documents, vms/media/probe.py): the first is added to a name that ends otherwise.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "video/mp4": (".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".mj2", ".m4a"),
    "audio/mp4": (".m4a", ".mp4", ".m4b"),
    "video/x-matroska": (".mkv", ".mk3d", ".mka", ".webm"),
    "audio/x-matroska": (".mka", ".mkv"),
    "video/webm": (".webm",),
    "audio/webm": (".webm", ".weba"),
    "video/mp2t": (".ts", ".mts", ".m2ts"),
    "video/x-msvideo": (".avi",),
    "audio/mpeg": (".mp3", ".mp2", ".mpga"),
    "audio/wav": (".wav",),
    "audio/ogg": (".ogg", ".oga", ".opus"),
    "video/ogg": (".ogv", ".ogg"),
    "audio/flac": (".flac",),
    "video/x-nut": (".nut",),
    "video/x-ms-asf": (".wmv", ".asf"),
    "audio/x-ms-wma": (".wma", ".asf"),
    "video/x-flv": (".flv",),
    "video/mpeg": (".mpg", ".mpeg", ".mpe", ".m2v", ".vob"),
    "audio/aac": (".aac",),
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/png": (".png",),
    "application/zip": (".zip",),
}


def served_name(name: str, content_type: str | None) -> str:
    """``name`` ending as a file of ``content_type`` does: an uploader chose the name, and
    a valid JPEG sent as ``statement.html`` or ``report.hta`` would be saved under that
    name and opened by whatever the extension calls (a polyglot runs as a page or a
    program on the recipient's machine). Such a name gets the type's extension added
    (``statement.html.jpg``); the name as stored is unchanged (ACC-5, ACC-9: what
    leaves is what it says it is)."""
    extensions = EXTENSIONS.get((content_type or "").split(";")[0].strip().lower())
    if not extensions or name.lower().endswith(extensions):
        return name
    return name + extensions[0]


def content_disposition(
    name: str | None,
    *,
    attachment: bool,
    default: str = "download",
    content_type: str | None = None,
) -> str:
    """The ``Content-Disposition`` value for ``name`` (RFC 6266): ``attachment`` or
    ``inline``, an ASCII ``filename`` and, when the name is not plain ASCII, the exact
    name as ``filename*=UTF-8''...``. The name is made safe first (:func:`safe_filename`),
    so rows stored before names were cleaned are served too, and, given the file's
    ``content_type``, ends as such a file does (:func:`served_name`)."""
    safe = served_name(safe_filename(name) or default, content_type)
    fallback = ascii_fallback(safe)
    value = f'{"attachment" if attachment else "inline"}; filename="{fallback}"'
    if fallback != safe:
        value += f"; filename*=UTF-8''{quote(safe, safe=_ATTR_CHAR_SAFE)}"
    return value
