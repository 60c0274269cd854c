"""The explanation view of a linearizability failure: one lane per process, each op a bar
from invocation to completion, the longest linearizable prefix drawn as a numbered path
through feasible linearization points, the op that cannot be linearized in red with a
dashed line at its completion (by then it must have taken effect, and no order of the
candidates allows it), the ops that could go next instead in orange, and those that
cannot go next either in pale red.

Layout: x follows the order of events in the history (so it works for formats without
timestamps), but not its scale: each event gets the next position, and a completion is
pushed right until its op's bar holds its whole label ("read -> 4 @n3": the value a read
returned and the node that served it are the point of the drawing, so they are never cut).
Quiet stretches of the history take no room. When that makes the drawing wider than the
page, it scrolls, starting at its right end, where the failure is.

Step numbers sit in a band above the bars, so they never cover a label.
"""

from __future__ import annotations

from html import escape

PREFIX_SHOWN = 15
LANE_H = 36
BAR_Y, BAR_H = 14, 18       # the bar inside its lane; the band above it holds the steps
LEFT = 90
CHAR_W = 6.8                # monospace 11 px
EVENT_GAP = 12

COLORS = {"prefix": ("#b2f2bb", "#2b8a3e"), "candidate": ("#ffd8a8", "#e67700"),
          "blocked": ("#ffe3e3", "#e03131"), "blocking": ("#ffa8a8", "#c92a2a")}


def op_label(op: dict) -> str:
    """The op as the reader needs it: what it did, with values, and where it ran."""
    label = str(op.get("description", op.get("f", "?")))
    if op.get("node") is not None:
        label += f" @{op['node']}"
    return label


def _layout(ops: list[tuple[str, dict]]) -> tuple[dict, float]:
    """x of every event index: one gap per event, completions pushed right until their
    bar holds their label. Returns ({history index: x}, right end)."""
    events = set()
    for _, op in ops:
        events.add(op["invoke_index"])
        if op.get("complete_index") is not None:
            events.add(op["complete_index"])
    need: dict[int, list[int]] = {}       # completion index -> invoke indexes it must clear
    widths: dict[tuple[int, int], float] = {}
    for _, op in ops:
        if op.get("complete_index") is not None:
            need.setdefault(op["complete_index"], []).append(op["invoke_index"])
            key = (op["invoke_index"], op["complete_index"])
            widths[key] = max(widths.get(key, 0), len(op_label(op)) * CHAR_W + 10)
    xs: dict[int, float] = {}
    x = LEFT + 8
    for index in sorted(events):
        for start in need.get(index, ()):
            x = max(x, xs[start] + widths[(start, index)])
        xs[index] = x
        x += EVENT_GAP
    return xs, x


def failure_svg(failure: dict, max_width: int = 1300) -> str:
    prefix = failure.get("linearized_prefix") or []
    shown_prefix = prefix[-PREFIX_SHOWN:]
    first_number = failure.get("prefix_length", len(prefix)) - len(shown_prefix) + 1
    blocking = failure.get("op")
    ops = ([("prefix", op) for op in shown_prefix]
           + [("candidate", op) for op in failure.get("concurrent") or []]
           + [("blocked", op) for op in failure.get("also_blocked") or []])
    if blocking:
        ops.append(("blocking", blocking))
    if not ops:
        return ""
    xs, right = _layout(ops)
    # Open ops (outcome unknown) run to the right edge, with room for their label.
    open_end = right + max([len(op_label(op)) * CHAR_W + 10 for _, op in ops
                            if op.get("complete_index") is None] + [0])
    width = int(max(open_end, right) + 20)
    processes = sorted({str(op["process"]) for _, op in ops},
                       key=lambda p: (not p.lstrip("-").isdigit(),
                                      int(p) if p.lstrip("-").isdigit() else 0, p))
    lane = {p: i for i, p in enumerate(processes)}
    height = 20 + LANE_H * len(processes) + 30

    def y(process):
        return 16 + LANE_H * lane[str(process)]

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'class="lanes" font-size="11" font-family="monospace">']
    for p in processes:
        out.append(f'<text x="{LEFT - 8}" y="{y(p) + BAR_Y + 13}" text-anchor="end">'
                   f'process {escape(p)}</text>')
        out.append(f'<line x1="{LEFT}" x2="{width - 10}" y1="{y(p) + LANE_H - 2}" '
                   f'y2="{y(p) + LANE_H - 2}" stroke="#f1f3f5"/>')
    for kind, op in ops:
        x0 = xs[op["invoke_index"]]
        done = op.get("complete_index") is not None
        x1 = xs[op["complete_index"]] if done else open_end
        fill, stroke = COLORS[kind]
        label = op_label(op)
        title = (f'{label} (process {op["process"]}, history {op["invoke_index"]}-'
                 f'{op["complete_index"] if done else "open"})')
        dash = "" if done else ' stroke-dasharray="4 2"'
        out.append(f'<rect x="{x0:.1f}" y="{y(op["process"]) + BAR_Y}" width="{x1 - x0:.1f}" '
                   f'height="{BAR_H}" rx="3" fill="{fill}" stroke="{stroke}"{dash}>'
                   f'<title>{escape(title)}</title></rect>')
        out.append(f'<text x="{x0 + 5:.1f}" y="{y(op["process"]) + BAR_Y + 13}">'
                   f'{escape(label)}</text>')
    # The partial linearization: feasible points, monotone, each inside its op's interval,
    # drawn in the band above the bars.
    def x_at(point: float) -> float:
        below = max((i for i in xs if i <= point), default=min(xs))
        above = min((i for i in xs if i >= point), default=max(xs))
        if above == below:
            return xs[below]
        return xs[below] + (xs[above] - xs[below]) * (point - below) / (above - below)

    point = float("-inf")
    path = []
    for number, op in enumerate(shown_prefix, first_number):
        end = op["complete_index"] if op.get("complete_index") is not None else max(xs)
        point = min(max(point + 0.5, op["invoke_index"] + 0.3), end - 0.1)
        path.append((x_at(point) + 4, y(op["process"]) + BAR_Y - 7, number))
    if len(path) > 1:
        out.append('<polyline fill="none" stroke="#1971c2" stroke-width="1.2" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in path) + '"/>')
    for px, py, number in path:
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6.5" fill="#1971c2"/>'
                   f'<text x="{px:.1f}" y="{py + 3:.1f}" fill="#fff" font-size="8" '
                   f'text-anchor="middle">{number}</text>')
    if blocking and blocking.get("complete_index") is not None:
        bx = xs[blocking["complete_index"]]
        out.append(f'<line x1="{bx:.1f}" x2="{bx:.1f}" y1="10" y2="{height - 25}" stroke="#c92a2a" '
                   f'stroke-dasharray="5 3"/>')
        states = failure.get("possible_states")
        where = (f"possible states: {', '.join(map(str, states))}"
                 if states and failure.get("possible_states_complete")
                 else f"state {failure.get('state')}")
        text = f"{op_label(blocking)} cannot be linearized; {where}"
        out.append(f'<text x="{max(LEFT, min(bx, width - len(text) * CHAR_W - 10)):.1f}" '
                   f'y="{height - 10}" fill="#c92a2a">{escape(text)}</text>')
    out.append("</svg>")
    legend = ('<div class="legend">' + "".join(
        f'<span class="swatch" style="background:{COLORS[k][0]}"></span>{text}'
        for k, text in (("prefix", "linearized (numbers: the order)"),
                        ("candidate", "could go next"),
                        ("blocked", "cannot go next either"),
                        ("blocking", "cannot be linearized"))) + "</div>")
    scroll = ' class="scroll-end"' if width > max_width else ""
    return f"<div{scroll}>" + "\n".join(out) + "</div>" + legend
