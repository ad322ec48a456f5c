"""Server-rendered SVG bar charts for report pages (no JavaScript library): each bar
carries its label and number as text, so the chart reads without a script and a test
finds the numbers in the page."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

BAR_HEIGHT = 16
GAP = 6
LABEL_WIDTH = 180
BAR_WIDTH = 360

# Templates filled by Markup.format, which escapes every argument.
_SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{w}" '
    'height="{h}" viewBox="0 0 {w} {h}"><title>{title}</title>'
)
_BAR = Markup(
    '<text x="{lx}" y="{ty}" text-anchor="end" font-size="11">{label}</text>'
    '<rect x="{x}" y="{y}" width="{bw}" height="{bh}" fill="#3b6ea8">'
    "<title>{label}: {shown}</title></rect>"
    '<text x="{vx}" y="{ty}" font-size="11">{shown}</text>'
)
_MARK = Markup(
    '<line x1="{x}" y1="0" x2="{x}" y2="{y}" stroke="#b00" stroke-dasharray="4 3"/>'
    '<text x="{x}" y="{ty}" font-size="10" fill="#b00" text-anchor="middle">required {mark}</text>'
)
_EMPTY = Markup('<text x="10" y="20" font-size="11">(nothing this month)</text>')


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, unit: str = "", mark: float | None = None
) -> Markup:
    """A horizontal bar chart of ``(label, value)``; ``mark``: a dashed line at that
    value (a required minimum)."""
    top = max([v for _, v in bars] + [mark or 0.0, 1.0])
    height = len(bars) * (BAR_HEIGHT + GAP) + GAP + 20
    out = [_SVG.format(w=LABEL_WIDTH + BAR_WIDTH + 120, h=height, title=title)]
    for i, (label, value) in enumerate(bars):
        y = GAP + i * (BAR_HEIGHT + GAP)
        w = round(BAR_WIDTH * value / top, 1)
        out.append(
            _BAR.format(
                lx=LABEL_WIDTH - 6,
                ty=y + 12,
                label=label,
                x=LABEL_WIDTH,
                y=y,
                bw=w,
                bh=BAR_HEIGHT,
                shown=f"{value:g}{unit}",
                vx=LABEL_WIDTH + w + 4,
            )
        )
    if mark is not None:
        x = LABEL_WIDTH + round(BAR_WIDTH * mark / top, 1)
        out.append(_MARK.format(x=x, y=height - 16, ty=height - 4, mark=f"{mark:g}"))
    if not bars:
        out.append(_EMPTY)
    out.append(Markup("</svg>"))
    return Markup("").join(out)
