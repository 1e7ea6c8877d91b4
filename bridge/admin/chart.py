"""A small inline SVG bar chart (no JavaScript): conversions and postbacks per day."""

from dataclasses import dataclass

WIDTH, HEIGHT, GAP = 560, 120, 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


def bars(days: list[dict]) -> dict:
    """Two bars per day, scaled to the busiest day; the template draws them."""
    top = max([1] + [d["conversions"] for d in days] + [d["postbacks"] for d in days])
    slot = WIDTH / max(len(days), 1)
    half = (slot - GAP * 3) / 2
    drawn = []
    for i, day in enumerate(days):
        for j, kind in enumerate(("conversions", "postbacks")):
            height = HEIGHT * day[kind] / top
            drawn.append(Bar(round(i * slot + GAP + j * (half + GAP), 1),
                             round(HEIGHT - height, 1), round(half, 1), round(height, 1), kind,
                             f"{day['day']}: {day[kind]} {kind}"))
    return {"width": WIDTH, "height": HEIGHT, "bars": drawn, "top": top}
