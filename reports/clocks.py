"""The clock plot (Jepsen's): each node's clock offset over time, as step lines, drawn
from the nemesis events of the history.

Any nemesis event whose value carries `offsets_ms` ({node: ms in force}) is a step: from
its time on, each node's clock is off by that much, until the next such event. A value
may also carry `strobe` ({node: {low_ms, high_ms, duration_s, ...}}): that node's clock
flips between the two offsets from the event for `duration_s` (or until the next event),
drawn as a hatched band. A history without such events has no clock plot (""), so only
runs with clock faults show one. Self-contained inline SVG, every string escaped.
"""

from __future__ import annotations

from html import escape

from harness.history import NEMESIS

from .plots import _Frame, fault_legend, fault_periods, has_real_times

NODE_COLORS = ["#1971c2", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c",
               "#5c940d", "#6741d9", "#862e9c"]


def clock_events(history: list[dict]) -> list[tuple[float, dict, dict]]:
    """[(time s, offsets_ms, strobe)] of the nemesis events that record clock offsets."""
    events = []
    for op in history:
        value = op.get("value")
        if op.get("process") != NEMESIS or not isinstance(value, dict):
            continue
        offsets = value.get("offsets_ms")
        if not isinstance(offsets, dict) or not isinstance(op.get("time"), (int, float)):
            continue
        clean = {str(n): float(ms) for n, ms in offsets.items()
                 if isinstance(ms, (int, float)) and not isinstance(ms, bool)}
        strobe = value.get("strobe") if isinstance(value.get("strobe"), dict) else {}
        events.append((op["time"] / 1e9, clean, strobe))
    return sorted(events, key=lambda e: e[0])


def clock_svg(history: list[dict], width: int = 660, height: int = 200) -> str:
    """The plot, or "" when the history records no clock offsets."""
    events = clock_events(history)
    if not events or not has_real_times(history):
        return ""
    end = max(op["time"] for op in history if isinstance(op.get("time"), (int, float))) / 1e9
    t_max = max(end, events[-1][0], 1.0)
    nodes = sorted({n for _, offsets, _ in events for n in offsets})
    strobes = []        # (node, t0, t1, low, high)
    for i, (t, _, strobe) in enumerate(events):
        t_next = events[i + 1][0] if i + 1 < len(events) else t_max
        for node, s in strobe.items():
            if isinstance(s, dict) and all(isinstance(s.get(k), (int, float))
                                           for k in ("low_ms", "high_ms")):
                duration = s.get("duration_s") if isinstance(s.get("duration_s"), (int, float)) \
                    else t_next - t
                strobes.append((str(node), t, min(t_next, t + duration),
                                float(s["low_ms"]), float(s["high_ms"])))
    values = [ms for _, offsets, _ in events for ms in offsets.values()]
    values += [v for s in strobes for v in s[3:]]
    peak = max([abs(v) for v in values] + [1.0])
    frame = _Frame(t_max, width, height)

    def y(ms):
        return frame.top + frame.ph * (0.5 - ms / (2.2 * peak))

    periods = fault_periods(history)
    out = frame.open("clock offsets over time") + frame.bands(periods)
    out.append('<defs><pattern id="strobe" width="4" height="4" patternUnits="userSpaceOnUse">'
               '<path d="M0,4 L4,0" stroke="#495057" stroke-width="0.8"/></pattern></defs>')
    for ms in (-peak, -peak / 2, 0.0, peak / 2, peak):
        out.append(f'<line x1="{frame.left}" x2="{frame.left + frame.pw}" y1="{y(ms):.1f}" '
                   f'y2="{y(ms):.1f}" stroke="{"#bbb" if ms == 0 else "#eee"}"/>')
        out.append(f'<text x="{frame.left - 5}" y="{y(ms) + 4:.1f}" text-anchor="end">'
                   f'{ms / 1000:+.3g}s</text>')
    out += frame.time_axis()
    for node, t0, t1, low, high in strobes:
        out.append(f'<rect x="{frame.x(t0):.1f}" y="{min(y(low), y(high)):.1f}" '
                   f'width="{max(1.0, frame.x(t1) - frame.x(t0)):.1f}" '
                   f'height="{max(1.0, abs(y(low) - y(high))):.1f}" fill="url(#strobe)" '
                   f'opacity="0.6"><title>{escape(node)} strobe {low:g}..{high:g} ms '
                   f'{t0:.1f}-{t1:.1f}s</title></rect>')
    legend = []
    for k, node in enumerate(nodes):
        color = NODE_COLORS[k % len(NODE_COLORS)]
        points, last = [], 0.0
        points.append((0.0, 0.0))
        for t, offsets, _ in events:
            ms = offsets.get(node, last)
            points += [(t, last), (t, ms)]
            last = ms
        points.append((t_max, last))
        line = " ".join(f"{frame.x(t):.1f},{y(ms):.1f}" for t, ms in points)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                   f'points="{line}"><title>{escape(node)}</title></polyline>')
        legend.append(f'<span class="swatch" style="background:{color}"></span>{escape(node)}')
    out += frame.close()
    note = ' <span class="muted">(offset of each node\'s clock; hatched: strobe)</span>'
    return "\n".join(out) + f'<div class="legend">{" ".join(legend)}{fault_legend(periods)}{note}</div>'
