"""The geometry of the charts drawn on the server as SVG (templates/reports/fragments/chart.html
draws it): bars stacked by nature (duty 下沉任务 below or left, voluntary service 志愿服务 on top
or right), axes with round ticks, the labels.

A chart is drawn in a viewBox 360 units wide and scaled to the width of the page, so that a
phone (390 px) shows it whole without scrolling sideways and a text of 11 units stays readable.
Every coordinate is a string here, printed as it is, never localised. `markup` writes a
drawing's elements (the template writes the <svg> around them): through the template's loops and
filters the four charts' bars and ticks cost about 10 ms a page.
"""

import html
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from django.utils.safestring import SafeString, mark_safe

from activities.figures import format_number
from activities.models import Activity

WIDTH = 360
NATURES = (Activity.Nature.DUTY, Activity.Nature.VOLUNTEER)
# Longer category names are cut (the bar's <title> and the table give them whole).
LABEL_CHARS = 7


def _u(value) -> str:
    """A coordinate to one decimal place, without a useless ".0"."""
    return format(Decimal(value).quantize(Decimal("0.1")).normalize(), "f")


def round_ticks(maximum, *, whole: bool, steps: int = 4) -> list[Decimal]:
    """0 and the round values (1, 2 or 5 × a power of ten apart) up to the first at or above
    `maximum`, about `steps` of them; whole numbers only for counts (`whole`)."""
    maximum = Decimal(maximum)
    if maximum <= 0:
        return [Decimal(0), Decimal(1)]
    raw = maximum / steps
    magnitude = Decimal(1).scaleb(raw.adjusted())
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw)
    if whole:
        step = max(step, Decimal(1))
    count = int((maximum / step).to_integral_value(rounding=ROUND_CEILING))
    return [step * i for i in range(count + 1)]


@dataclass
class Segment:
    nature: str
    value: Decimal
    x: str
    y: str
    width: str
    height: str


@dataclass
class Bar:
    label: str  # as drawn (cut when long)
    name: str  # whole, for the <title>
    total: Decimal
    segments: list[Segment] = field(default_factory=list)
    label_x: str = ""
    label_y: str = ""
    value_x: str = ""
    value_y: str = ""

    @property
    def total_label(self) -> str:
        return format_number(self.total)


@dataclass
class Tick:
    label: str
    x1: str
    y1: str
    x2: str
    y2: str
    label_x: str
    label_y: str


@dataclass
class Drawing:
    """What the template draws: `kind` "columns" (months along the bottom) or "rows" (one
    category a row)."""

    kind: str
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    axis: tuple[str, str, str, str]


def _segments_of(values: dict) -> list[tuple[str, Decimal]]:
    return [(nature, Decimal(values.get(nature) or 0)) for nature in NATURES]


def columns(items, *, whole: bool) -> Drawing:
    """Vertical bars, one for each (label, {nature: value}) of `items`, in their order."""
    left, right, top, bottom, height = 40, 6, 16, 22, 220
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    items = list(items)
    ticks = round_ticks(
        max((sum(_v for _n, _v in _segments_of(v)) for _l, v in items), default=0), whole=whole
    )
    scale = Decimal(plot_h) / ticks[-1]
    base = Decimal(top + plot_h)
    slot = Decimal(plot_w) / max(len(items), 1)
    bar_w = slot * Decimal("0.62")
    bars = []
    for index, (label, values) in enumerate(items):
        x = left + slot * index + (slot - bar_w) / 2
        stacked = Decimal(0)
        bar = Bar(label=label, name=label, total=Decimal(0))
        for nature, value in _segments_of(values):
            if value <= 0:
                continue
            y = base - (stacked + value) * scale
            bar.segments.append(Segment(nature, value, _u(x), _u(y), _u(bar_w), _u(value * scale)))
            stacked += value
        bar.total = stacked
        centre = x + bar_w / 2
        bar.label_x, bar.label_y = _u(centre), _u(height - 7)
        bar.value_x, bar.value_y = _u(centre), _u(base - stacked * scale - 3)
        bars.append(bar)
    drawn_ticks = []
    for value in ticks:
        y = _u(base - value * scale)
        drawn_ticks.append(
            Tick(
                format_number(value),
                _u(left),
                y,
                _u(WIDTH - right),
                y,
                _u(left - 4),
                _u(Decimal(y) + 4),
            )
        )
    return Drawing(
        "columns",
        WIDTH,
        height,
        bars,
        drawn_ticks,
        (_u(left), _u(base), _u(WIDTH - right), _u(base)),
    )


def rows(items, *, whole: bool) -> Drawing:
    """Horizontal bars, one row for each (name, {nature: value}) of `items`, in their order."""
    left, right, top, row_h, bar_h, axis_h = 96, 34, 6, 26, 16, 20
    plot_w = WIDTH - left - right
    items = list(items)
    height = top + row_h * max(len(items), 1) + axis_h
    base_y = top + row_h * max(len(items), 1)
    ticks = round_ticks(
        max((sum(_v for _n, _v in _segments_of(v)) for _l, v in items), default=0), whole=whole
    )
    scale = Decimal(plot_w) / ticks[-1]
    bars = []
    for index, (name, values) in enumerate(items):
        y = Decimal(top + row_h * index + (row_h - bar_h) / 2)
        label = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        stacked = Decimal(0)
        bar = Bar(label=label, name=name, total=Decimal(0))
        for nature, value in _segments_of(values):
            if value <= 0:
                continue
            bar.segments.append(
                Segment(
                    nature, value, _u(left + stacked * scale), _u(y), _u(value * scale), _u(bar_h)
                )
            )
            stacked += value
        bar.total = stacked
        middle = y + Decimal(bar_h) / 2 + 4
        bar.label_x, bar.label_y = _u(left - 6), _u(middle)
        bar.value_x, bar.value_y = _u(left + stacked * scale + 4), _u(middle)
        bars.append(bar)
    drawn_ticks = []
    for value in ticks:
        x = _u(left + value * scale)
        drawn_ticks.append(
            Tick(format_number(value), x, _u(top), x, _u(base_y), x, _u(base_y + 14))
        )
    return Drawing(
        "rows", WIDTH, height, bars, drawn_ticks, (_u(left), _u(top), _u(left), _u(base_y))
    )


def escape(value) -> str:
    """A value as HTML text, quotes included: for markup written with f-strings here and in the
    overview's and evaluations' rows (Django's escape also marks each result safe, which
    those rows' hundreds of values do not need)."""
    return html.escape(str(value))


def markup(drawing: Drawing) -> SafeString:
    """The elements inside the drawing's <svg>: the ticks with their grid lines, a group per bar
    (its <title>, a <rect> per nature, its total and its label), the axis. Written with
    f-strings: the coordinates are numbers made here, and only the names are escaped
    (format_html escaped each of the 300-odd values of a page in turn, 4 ms); a figure
    (format_number) is digits and a point."""
    columns = drawing.kind == "columns"
    tick_class = "xc-tick xc-end" if columns else "xc-tick xc-middle"
    value_class = "xc-value xc-middle" if columns else "xc-value"
    label_class = "xc-label xc-middle" if columns else "xc-label xc-end"
    parts = [
        f'<line class="xc-grid" x1="{t.x1}" y1="{t.y1}" x2="{t.x2}" y2="{t.y2}"/>\n'
        f'<text class="{tick_class}" x="{t.label_x}" y="{t.label_y}">{escape(t.label)}</text>'
        for t in drawing.ticks
    ]
    for bar in drawing.bars:
        total = escape(bar.total_label)
        rects = "".join(
            f'<rect class="xc-bar xc-bar-{escape(s.nature)}" x="{s.x}" y="{s.y}"'
            f' width="{s.width}" height="{s.height}" data-value="{format_number(s.value)}"/>'
            for s in bar.segments
        )
        value = (
            f'<text class="{value_class}" x="{bar.value_x}" y="{bar.value_y}">{total}</text>\n'
            if bar.total
            else ""
        )
        parts.append(
            f'<g class="xc-bar-group">\n<title>{escape(bar.name)}: {total}</title>\n{rects}\n'
            f'{value}<text class="{label_class}" x="{bar.label_x}" y="{bar.label_y}">'
            f"{escape(bar.label)}</text>\n</g>"
        )
    x1, y1, x2, y2 = drawing.axis
    parts.append(f'<line class="xc-axis" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    return mark_safe("\n".join(parts))
