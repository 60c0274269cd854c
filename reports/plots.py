"""Inline SVG plots (no plotting library, so the report is one self-contained file)."""

from __future__ import annotations

import math
from html import escape

from harness.history import NEMESIS, pair_ops

COLORS = {"ok": "#2b8a3e", "fail": "#c92a2a", "info": "#e67700"}
FAULT_COLORS = ["#f3d9fa", "#d0ebff", "#fff3bf", "#ffe3e3", "#d3f9d8"]


def fault_periods(history: list[dict]) -> list[dict]:
    """[{fault, start_s, end_s, value}] from the nemesis start/end events. A start that
    failed (value `failed`) put no fault in force: it is not a period."""
    periods, open_ = [], {}
    end_time = max((op.get("time", 0) for op in history), default=0)
    for op in history:
        if op.get("process") != NEMESIS:
            continue
        value = op.get("value") or {}
        phase = value.get("phase") if isinstance(value, dict) else None
        if phase == "start" and not value.get("failed"):
            open_[op["f"]] = op
        elif phase == "end" and op["f"] in open_:
            start = open_.pop(op["f"])
            periods.append({"fault": op["f"], "start_s": start.get("time", 0) / 1e9,
                            "end_s": op.get("time", end_time) / 1e9, "value": start.get("value")})
    for f, start in open_.items():
        periods.append({"fault": f, "start_s": start.get("time", 0) / 1e9, "end_s": end_time / 1e9,
                        "value": start.get("value")})
    return sorted(periods, key=lambda p: p["start_s"])


def latency_svg(history: list[dict], width: int = 900, height: int = 320,
                max_points: int = 20000) -> str:
    points = []
    for invoke, completion in pair_ops(history):
        if completion is None or "time" not in invoke or "time" not in completion:
            continue
        latency_ms = max((completion["time"] - invoke["time"]) / 1e6, 0.01)
        points.append((invoke["time"] / 1e9, latency_ms, completion["type"], invoke["f"]))
    if not points:
        return "<p>No completed operations to plot.</p>"
    if len(points) > max_points:
        step = len(points) / max_points
        points = [points[int(i * step)] for i in range(max_points)]
    periods = fault_periods(history)
    t_max = max([p[0] for p in points] + [p["end_s"] for p in periods] + [1.0])
    lat_min = min(p[1] for p in points)
    lat_max = max(p[1] for p in points)
    lo, hi = math.floor(math.log10(lat_min)), math.ceil(math.log10(lat_max))
    if hi == lo:
        hi += 1
    left, right, top, bottom = 55, 10, 10, 35
    pw, ph = width - left - right, height - top - bottom

    def x(t):
        return left + pw * t / t_max

    def y(ms):
        return top + ph * (1 - (math.log10(ms) - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'class="plot" role="img" aria-label="latency over time">']
    fault_names = sorted({p["fault"] for p in periods})
    for p in periods:
        color = FAULT_COLORS[fault_names.index(p["fault"]) % len(FAULT_COLORS)]
        out.append(f'<rect x="{x(p["start_s"]):.1f}" y="{top}" '
                   f'width="{max(1.0, x(p["end_s"]) - x(p["start_s"])):.1f}" height="{ph}" '
                   f'fill="{color}"><title>{escape(p["fault"])} '
                   f'{p["start_s"]:.1f}-{p["end_s"]:.1f}s</title></rect>')
    for decade in range(lo, hi + 1):
        yy = y(10 ** decade)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 5}" y="{yy + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{10 ** decade:g} ms</text>')
    ticks = max(1, int(t_max // 10) or 1)
    for t in range(0, int(t_max) + 1, ticks if t_max > 10 else 1):
        out.append(f'<text x="{x(t):.1f}" y="{height - 15}" text-anchor="middle" '
                   f'font-size="11">{t}s</text>')
    for t, ms, typ, _f in points:
        out.append(f'<circle cx="{x(t):.1f}" cy="{y(ms):.1f}" r="1.6" '
                   f'fill="{COLORS.get(typ, "#555")}"/>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    out.append("</svg>")
    legend = " ".join(f'<span class="dot" style="background:{c}"></span>{t}'
                      for t, c in COLORS.items())
    legend += "".join(
        f' <span class="swatch" style="background:{FAULT_COLORS[i % len(FAULT_COLORS)]}">'
        f'</span>{escape(f)}' for i, f in enumerate(fault_names))
    return "\n".join(out) + f'<div class="legend">{legend}</div>'
