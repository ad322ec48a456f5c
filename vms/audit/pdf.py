"""A minimal PDF writer (pure Python, no dependency): pages of monospaced text lines in
the standard Courier font, enough for reports whose numbers must be readable and
searchable as text (``pdftotext`` finds them). PDF 1.4, ISO 32000-1 sections 7 and 9."""

from __future__ import annotations

from collections.abc import Sequence

PAGE_WIDTH, PAGE_HEIGHT = 842, 595  # A4 landscape, points
MARGIN = 36
FONT_SIZE = 8
LEADING = 10
COLUMNS = int((PAGE_WIDTH - 2 * MARGIN) / (FONT_SIZE * 0.6))  # Courier: 0.6 em wide
LINES_PER_PAGE = int((PAGE_HEIGHT - 2 * MARGIN) / LEADING)


def _escape(line: str) -> bytes:
    text = line.encode("latin-1", "replace")
    return text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrap(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        line = line.replace("\t", "    ").replace("\r", "")
        while len(line) > COLUMNS:
            out.append(line[:COLUMNS])
            line = "  " + line[COLUMNS:]
        out.append(line)
    return out


def text_pdf(lines: Sequence[str], *, title: str = "") -> bytes:
    """A PDF of ``lines`` (long ones wrapped), as many pages as they need."""
    wrapped = _wrap(lines) or [""]
    pages = [wrapped[i : i + LINES_PER_PAGE] for i in range(0, len(wrapped), LINES_PER_PAGE)]
    objects: list[bytes] = []  # object n is objects[n - 1]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # the page tree, written once the pages are numbered
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
    info = b"<< /Title (" + _escape(title) + b") /Producer (vms) >>"
    objects.append(info)
    kids = []
    for number, page in enumerate(pages, 1):
        body = [b"BT", b"/F1 %d Tf" % FONT_SIZE, b"%d TL" % LEADING]
        body.append(b"%d %d Td" % (MARGIN, PAGE_HEIGHT - MARGIN))
        for line in [*page, "", f"page {number} of {len(pages)}"]:
            body.append(b"(" + _escape(line) + b") '")
        body.append(b"ET")
        stream = b"\n".join(body)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (PAGE_WIDTH, PAGE_HEIGHT, content)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(kids)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
