"""Drawing of a dependency cycle: transactions on a circle, each edge an arrow labelled
with its kind (ww, wr, rw, process, realtime) and the key it is about.

The SVG is built here, so everything in it that comes from a history (transaction ids,
keys, edge kinds) goes through html.escape: the template inserts it as markup."""

from __future__ import annotations

import math
from html import escape

EDGE_COLORS = {"ww": "#1971c2", "wr": "#2b8a3e", "rw": "#c92a2a", "process": "#7950f2",
               "realtime": "#e67700"}


def cycle_svg(cycle: dict, size: int = 360) -> str:
    steps = cycle.get("steps") or []
    if not steps:
        return ""
    nodes = [s["from"] for s in steps]
    n = len(nodes)
    cx = cy = size / 2
    radius = size / 2 - 60 if n > 1 else 0
    pos = {}
    for i, t in enumerate(nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        pos[i] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
           f'font-family="sans-serif" font-size="11" class="cycle" style="flex: none">',
           '<defs>' + "".join(
               f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
               f'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
               f'fill="{c}"/></marker>' for k, c in EDGE_COLORS.items()) + '</defs>']
    node_r = 20
    for i, step in enumerate(steps):
        (x1, y1), (x2, y2) = pos[i], pos[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1
        # Shorten to the node borders and bow the line outwards so labels do not collide.
        sx, sy = x1 + dx / dist * node_r, y1 + dy / dist * node_r
        ex, ey = x2 - dx / dist * node_r, y2 - dy / dist * node_r
        mx, my = (sx + ex) / 2, (sy + ey) / 2
        bow = 25
        nx, ny = -dy / dist * bow, dx / dist * bow
        qx, qy = mx + nx, my + ny
        kind = step["type"]
        color = EDGE_COLORS.get(kind, "#555")
        # Only the edge kinds drawn above have a marker; anything else (never data) gets none.
        marker = f' marker-end="url(#arrow-{kind})"' if kind in EDGE_COLORS else ""
        out.append(f'<path d="M {sx:.1f} {sy:.1f} Q {qx:.1f} {qy:.1f} {ex:.1f} {ey:.1f}" fill="none" '
                   f'stroke="{color}" stroke-width="2"{marker}/>')
        label = kind + (f" {step['key']}" if step.get("key") is not None else "")
        out.append(f'<text x="{mx + nx * 1.25:.1f}" y="{my + ny * 1.25 + 4:.1f}" text-anchor="middle" '
                   f'fill="{color}">{escape(str(label))}</text>')
    for i, t in enumerate(nodes):
        x, y = pos[i]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{node_r}" fill="#f8f9fa" stroke="#495057"/>'
                   f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-weight="bold" font-size="13">'
                   f'T{escape(str(t))}</text>')
    out.append("</svg>")
    return "\n".join(out)
