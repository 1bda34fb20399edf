"""Draw the benchmark results (``benchmarks/results.json``) as one SVG, with the stdlib only.

Two kinds of panel, each with its own scale (lower is better everywhere):

* one panel per measurement that more than one library reported in the same run (the same
  workload through ``teleflow_py`` and the peers): a bar per library, the value written out;
* one panel of the targets: each row is a ratio divided by its limit, so the line at 1.0 is
  the limit and a bar that crosses it missed the target.

The output depends only on the results, so the docs' copy can be checked against them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple
from xml.sax.saxutils import escape

WIDTH = 760
LABEL_WIDTH = 250
BAR_HEIGHT = 18
ROW_GAP = 6
TITLE_HEIGHT = 26
PANEL_GAP = 18
OURS = "teleflow_py"
COLOURS = {"ours": "#2f6fdf", "peer": "#9aa5b1", "ok": "#2e9d5b", "missed": "#d1453b"}

# (label, value as drawn, text written after the bar, colour)
Row = Tuple[str, float, str, str]


def _format(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def comparisons(results: Dict[str, Any]) -> List[Tuple[str, List[Row]]]:
    """Panels of the measurements taken through more than one library in the same script."""
    panels: List[Tuple[str, List[Row]]] = []
    for document in results.get("benchmarks", []):
        groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
        for item in document.get("metrics", []):
            if item.get("limit") is None:
                groups.setdefault((item["name"], item["unit"]), []).append(item)
        for (name, unit), items in groups.items():
            if len({item["sdk"] for item in items}) < 2:
                continue
            rows = [
                (
                    item["sdk"],
                    float(item["value"]),
                    _format(float(item["value"]), unit),
                    COLOURS["ours" if item["sdk"] == OURS else "peer"],
                )
                for item in items
            ]
            panels.append((f"{name} ({unit}, lower is better)", rows))
    return panels


def targets(results: Dict[str, Any]) -> Optional[Tuple[str, List[Row]]]:
    """The panel of every measured ratio against its limit (``None`` when there are none)."""
    rows: List[Row] = []
    for document in results.get("benchmarks", []):
        for item in document.get("metrics", []):
            ratio, limit = item.get("ratio"), item.get("limit")
            if ratio is None or not limit:
                continue
            rows.append(
                (
                    item["name"],
                    float(ratio) / float(limit),
                    f"{ratio:.2f} (limit {limit:.2f})",
                    COLOURS["ok" if ratio <= limit else "missed"],
                )
            )
    return ("targets: ratio / limit (the line is the limit)", rows) if rows else None


def _panel(title: str, rows: List[Row], top: int, limit_line: bool) -> Tuple[List[str], int]:
    parts = [
        f'<text x="0" y="{top + 16}" font-weight="bold">{escape(title)}</text>',
    ]
    y = top + TITLE_HEIGHT
    scale_max = max([row[1] for row in rows] + ([1.0] if limit_line else [0.0])) or 1.0
    bar_space = WIDTH - LABEL_WIDTH - 150
    for label, value, text, colour in rows:
        length = max(1.0, bar_space * value / scale_max)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{colour}"/>'
        )
        parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 13}">{escape(text)}</text>')
        y += BAR_HEIGHT + ROW_GAP
    if limit_line:
        x = LABEL_WIDTH + bar_space / scale_max
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + TITLE_HEIGHT - 3}" x2="{x:.1f}" y2="{y - ROW_GAP + 3}" '
            'stroke="#333" stroke-dasharray="4 3"/>'
        )
    return parts, y


def draw(results: Dict[str, Any]) -> str:
    """The SVG text of the chart of ``results`` (the document ``benchmarks/run.py`` writes)."""
    panels = [(title, rows, False) for title, rows in comparisons(results)]
    target_panel = targets(results)
    if target_panel:
        panels.append((target_panel[0], target_panel[1], True))
    parts: List[str] = []
    y = 0
    for title, rows, limit_line in panels:
        drawn, y = _panel(title, rows, y, limit_line)
        parts.extend(drawn)
        y += PANEL_GAP
    if not panels:
        parts.append('<text x="0" y="16">no results</text>')
        y = 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
        f'viewBox="0 0 {WIDTH} {y}" font-family="sans-serif" font-size="12">\n'
        f'<rect width="{WIDTH}" height="{y}" fill="white"/>\n' + "\n".join(parts) + "\n</svg>\n"
    )
