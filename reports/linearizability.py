"""The explanation view of a linearizability failure: one lane per process, each op a bar
from invocation to completion (x is the position in the history, so it works for formats
without timestamps), the longest linearizable prefix drawn as a path through feasible
linearization points, and the op that cannot be linearized in red, with a dashed line at
its completion: by then it must have taken effect, and no order of the candidates allows it.
"""

from __future__ import annotations

from html import escape

PREFIX_SHOWN = 25
LANE_H = 26
LEFT = 90


def failure_svg(failure: dict, width: int = 940) -> str:
    prefix = failure.get("linearized_prefix") or []
    shown_prefix = prefix[-PREFIX_SHOWN:]
    first_number = len(prefix) - len(shown_prefix) + 1
    blocking = failure.get("op")
    concurrent = failure.get("concurrent") or []
    ops = [("prefix", op) for op in shown_prefix] + [("candidate", op) for op in concurrent]
    if blocking:
        ops.append(("blocking", blocking))
    if not ops:
        return ""
    starts = [op["invoke_index"] for _, op in ops]
    ends = [op["complete_index"] for _, op in ops if op.get("complete_index") is not None]
    lo = min(starts)
    hi = max(ends + starts) + 2
    processes = sorted({str(op["process"]) for _, op in ops},
                       key=lambda p: (not p.lstrip("-").isdigit(), int(p) if p.lstrip("-").isdigit() else 0, p))
    lane = {p: i for i, p in enumerate(processes)}
    plot_w = width - LEFT - 20
    height = 40 + LANE_H * len(processes) + 30

    def x(index):
        return LEFT + plot_w * (index - lo) / max(1, hi - lo)

    def y(process):
        return 30 + LANE_H * lane[str(process)]

    colors = {"prefix": "#b2f2bb", "candidate": "#ffd8a8", "blocking": "#ffa8a8"}
    strokes = {"prefix": "#2b8a3e", "candidate": "#e67700", "blocking": "#c92a2a"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'class="lanes" font-size="11" font-family="monospace">']
    for p in processes:
        out.append(f'<text x="{LEFT - 8}" y="{y(p) + 15}" text-anchor="end">process {escape(p)}</text>')
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(p) + 20}" y2="{y(p) + 20}" '
                   f'stroke="#f1f3f5"/>')
    for kind, op in ops:
        x0 = x(op["invoke_index"])
        end = op["complete_index"] if op.get("complete_index") is not None else hi
        x1 = max(x(end), x0 + 4)
        title = f'{op["description"]} (history {op["invoke_index"]}-{op.get("complete_index", "open")})'
        open_end = ' stroke-dasharray="4 2"' if op.get("complete_index") is None else ""
        out.append(f'<rect x="{x0:.1f}" y="{y(op["process"]) + 4}" width="{x1 - x0:.1f}" height="16" '
                   f'rx="3" fill="{colors[kind]}" stroke="{strokes[kind]}"{open_end}>'
                   f'<title>{escape(title)}</title></rect>')
        pad = 10 if kind == "prefix" else 3     # leave room for the order marker
        out.append(f'<text x="{x0 + pad:.1f}" y="{y(op["process"]) + 16}">'
                   f'{escape(op["description"][:max(3, int((x1 - x0 - pad) / 7))])}</text>')
    # The partial linearization: feasible points, monotone, each inside its op's interval.
    point = lo - 1.0
    path = []
    for number, op in enumerate(shown_prefix, first_number):
        point = max(point + 0.5, op["invoke_index"])
        px, py = x(point), y(op["process"]) + 12
        path.append((px, py, number))
    if len(path) > 1:
        out.append('<polyline fill="none" stroke="#1971c2" stroke-width="1.5" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in path) + '"/>')
    for px, py, number in path:
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="#1971c2"/>'
                   f'<text x="{px:.1f}" y="{py + 3.5:.1f}" fill="#fff" font-size="8" '
                   f'text-anchor="middle">{number}</text>')
    if blocking and blocking.get("complete_index") is not None:
        bx = x(blocking["complete_index"])
        out.append(f'<line x1="{bx:.1f}" x2="{bx:.1f}" y1="20" y2="{height - 25}" stroke="#c92a2a" '
                   f'stroke-dasharray="5 3"/>')
        out.append(f'<text x="{min(bx, width - 260):.1f}" y="{height - 10}" fill="#c92a2a">'
                   f'{escape(blocking["description"])} cannot be linearized; state '
                   f'{escape(str(failure.get("state")))}</text>')
    out.append("</svg>")
    legend = ('<div class="legend"><span class="swatch" style="background:#b2f2bb"></span>'
              'linearized (blue path: order)<span class="swatch" style="background:#ffd8a8">'
              '</span>could go next<span class="swatch" style="background:#ffa8a8"></span>'
              'cannot be linearized</div>')
    return "\n".join(out) + legend
