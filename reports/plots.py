"""Inline SVG plots (no plotting library, so the report is one self-contained file):
latency, throughput and the timeline of operations per process, each with the faults
shaded in fixed colours.

Size bounds, so a report of a long run stays small (each plot says when it applies them):
* latency: at most `LATENCY_POINTS` points, evenly sampled; the quantile lines are
  computed from every op;
* throughput: at most `THROUGHPUT_BUCKETS` buckets (1 s, or wider for long runs);
* timeline: at most `TIMELINE_LANES` lanes and `TIMELINE_COLUMNS` columns: each lane is
  cut into columns, a column is info if any op in it ended info, else ok, fail, or
  ok+fail when it holds both, and runs of equal columns are one bar; the columns are widened so that there are at
  most `TIMELINE_BARS` bars (about 20 bytes each) even when outcomes alternate.

Every string from the history (fault kinds, processes, f) is escaped here; the output is
trusted markup in the report.
"""

from __future__ import annotations

import math
import zlib
from html import escape

from harness.history import NEMESIS, pair_ops

COLORS = {"ok": "#2b8a3e", "fail": "#c92a2a", "info": "#e67700"}
# Fixed colours for the bundled fault kinds, so a partition is the same blue in every
# report; any other kind gets one from the palette by a hash of its name (stable too).
FAULT_COLORS = {"partition": "#d0ebff", "kill": "#ffc9c9", "pause": "#e5dbff",
                "clock": "#fff3bf", "packet-loss": "#c3fae8", "latency": "#ffe8cc",
                "disk": "#e9ecef"}
FAULT_PALETTE = ["#d3f9d8", "#f3d9fa", "#fff3bf", "#c5f6fa", "#ffdeeb", "#e7f5ff", "#fff4e6"]

LATENCY_POINTS = 3000
THROUGHPUT_BUCKETS = 300
TIMELINE_LANES = 40
TIMELINE_COLUMNS = 1000
TIMELINE_BARS = 10_000


def fault_color(kind: str) -> str:
    """The colour of a fault kind: the same in every report."""
    if kind in FAULT_COLORS:
        return FAULT_COLORS[kind]
    return FAULT_PALETTE[zlib.crc32(str(kind).encode("utf-8", "replace")) % len(FAULT_PALETTE)]


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


def fault_legend(periods: list[dict]) -> str:
    kinds = sorted({p["fault"] for p in periods})
    return "".join(f' <span class="swatch" style="background:{fault_color(k)}"></span>'
                   f'{escape(str(k))}' for k in kinds)


# Times (ns) spanning less than this over a whole history are not clock readings: some
# formats number events by their line (Porcupine's etcd logs), and plotting those as
# nanoseconds draws a run of a microsecond. Such a history is drawn as having no times.
MIN_REAL_SPAN_NS = 1_000_000


def has_real_times(history: list[dict]) -> bool:
    times = [op["time"] for op in history if isinstance(op.get("time"), (int, float))
             and not isinstance(op.get("time"), bool)]
    return bool(times) and max(times) - min(times) >= MIN_REAL_SPAN_NS


def _timed_ops(history: list[dict]) -> list[tuple[float, float, str, dict, bool]]:
    """(invoke s, completion s, outcome, invoke, completed) of every client op with times;
    an op that never completed is `info` up to the end of the history. Empty when the
    history has no real times (`has_real_times`)."""
    if not has_real_times(history):
        return []
    end = max((op["time"] for op in history if isinstance(op.get("time"), (int, float))),
              default=0) / 1e9
    ops = []
    for invoke, completion in pair_ops(history):
        if not isinstance(invoke.get("time"), (int, float)):
            continue
        if completion is None:
            ops.append((invoke["time"] / 1e9, end, "info", invoke, False))
        elif isinstance(completion.get("time"), (int, float)):
            ops.append((invoke["time"] / 1e9, completion["time"] / 1e9,
                        str(completion.get("type")), invoke, True))
    return ops


class _Frame:
    """A plot area with a time axis (seconds) and fault bands."""

    def __init__(self, t_max: float, width: int, height: int, left: int = 55,
                 right: int = 10, top: int = 8, bottom: int = 26):
        self.t_max = max(t_max, 1e-9)
        self.width, self.height = width, height
        self.left, self.top = left, top
        self.pw, self.ph = width - left - right, height - top - bottom

    def x(self, t: float) -> float:
        return self.left + self.pw * min(max(t, 0.0), self.t_max) / self.t_max

    def open(self, label: str) -> list[str]:
        return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} '
                f'{self.height}" width="{self.width}" height="{self.height}" class="plot" '
                f'role="img" aria-label="{escape(label)}" font-size="11">']

    def bands(self, periods: list[dict]) -> list[str]:
        return [f'<rect x="{self.x(p["start_s"]):.1f}" y="{self.top}" '
                f'width="{max(1.0, self.x(p["end_s"]) - self.x(p["start_s"])):.1f}" '
                f'height="{self.ph}" fill="{fault_color(p["fault"])}"><title>'
                f'{escape(str(p["fault"]))} {p["start_s"]:.1f}-{p["end_s"]:.1f}s</title></rect>'
                for p in periods]

    def time_axis(self) -> list[str]:
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 10**9)
                    if self.t_max / s <= 12)
        return [f'<text x="{self.x(t):.1f}" y="{self.height - 8}" text-anchor="middle">'
                f'{t}s</text>' for t in range(0, int(self.t_max) + 1, step)]

    def close(self) -> list[str]:
        return [f'<rect x="{self.left}" y="{self.top}" width="{self.pw}" height="{self.ph}" '
                f'fill="none" stroke="#999"/>', "</svg>"]


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def latency_svg(history: list[dict], width: int = 660, height: int = 240,
                max_points: int = LATENCY_POINTS) -> str:
    """Latency of every completed op by its invocation time (log scale), points coloured by
    outcome, with the median and 99th percentile per time bucket as lines."""
    points = [(t0, max((t1 - t0) * 1e3, 0.01), typ)
              for t0, t1, typ, _, completed in _timed_ops(history) if completed and typ in COLORS]
    if not points:
        return ("<p>No latency plot: the history has no completed operations with real "
                "times.</p>")
    total = len(points)
    periods = fault_periods(history)
    t_max = max([p[0] for p in points] + [p["end_s"] for p in periods] + [1.0])
    frame = _Frame(t_max, width, height)
    lo = math.floor(math.log10(min(p[1] for p in points)))
    hi = math.ceil(math.log10(max(p[1] for p in points)))
    hi = hi + 1 if hi == lo else hi

    def y(ms):
        return frame.top + frame.ph * (1 - (math.log10(ms) - lo) / (hi - lo))

    out = frame.open("latency over time") + frame.bands(periods)
    for decade in range(lo, hi + 1):
        yy = y(10 ** decade)
        out.append(f'<line x1="{frame.left}" x2="{frame.left + frame.pw}" y1="{yy:.1f}" '
                   f'y2="{yy:.1f}" stroke="#ddd"/>')
        ms = 10 ** decade
        label = f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"
        out.append(f'<text x="{frame.left - 5}" y="{yy + 4:.1f}" text-anchor="end">'
                   f'{label}</text>')
    out += frame.time_axis()
    shown = points
    if total > max_points:
        step = total / max_points
        shown = [points[int(i * step)] for i in range(max_points)]
    # One path per outcome, a dot per op (a zero-length stroke with round caps): about
    # 12 bytes a point, where a <circle> takes 50.
    for typ, color in COLORS.items():
        dots = "".join(f"M{frame.x(t):.0f} {y(ms):.0f}h0"
                       for t, ms, outcome in shown if outcome == typ)
        if dots:
            out.append(f'<path d="{dots}" stroke="{color}" stroke-width="3" '
                       f'stroke-linecap="round"/>')
    # Quantiles over every point (not the sample), per bucket of the time axis.
    buckets: dict[int, list[float]] = {}
    bucket_s = max(t_max / 60, 0.5)
    for t, ms, typ in points:
        if typ == "ok":
            buckets.setdefault(int(t / bucket_s), []).append(ms)
    for q, color in ((0.5, "#1c7ed6"), (0.99, "#862e9c")):
        # One path, broken where a bucket has no ok op (no line across an outage).
        d, previous = [], None
        for b in sorted(buckets):
            values = sorted(buckets[b])
            move = "L" if previous == b - 1 else "M"
            d.append(f"{move}{frame.x((b + 0.5) * bucket_s):.1f} {y(_quantile(values, q)):.1f}")
            previous = b
        if d:
            out.append(f'<path fill="none" stroke="{color}" stroke-width="1.5" d="{"".join(d)}"/>')
    out += frame.close()
    legend = " ".join(f'<span class="dot" style="background:{c}"></span>{t}'
                      for t, c in COLORS.items())
    legend += (' <span class="swatch" style="background:#1c7ed6"></span>p50 ok'
               ' <span class="swatch" style="background:#862e9c"></span>p99 ok')
    legend += fault_legend(periods)
    note = (f' <span class="muted">({max_points:,} of {total:,} ops drawn, evenly sampled; '
            f'quantiles from all)</span>' if total > max_points else "")
    return "\n".join(out) + f'<div class="legend">{legend}{note}</div>'


def throughput_svg(history: list[dict], width: int = 660, height: int = 240,
                   max_buckets: int = THROUGHPUT_BUCKETS) -> str:
    """Completions per second by outcome (ok, fail, info), over time."""
    ops = _timed_ops(history)
    if not ops:
        return "<p>No throughput plot: the history has no real times.</p>"
    periods = fault_periods(history)
    t_max = max([op[1] for op in ops] + [p["end_s"] for p in periods] + [1.0])
    bucket_s = max(1.0, math.ceil(t_max / max_buckets))
    n = int(t_max // bucket_s) + 1
    counts = {typ: [0] * n for typ in COLORS}
    for _, t1, typ, _, _ in ops:
        if typ in counts:
            counts[typ][min(n - 1, int(t1 // bucket_s))] += 1
    peak = max(max(c) for c in counts.values()) / bucket_s or 1.0
    scale = 10 ** math.floor(math.log10(peak))
    top_value = math.ceil(peak / scale) * scale
    frame = _Frame(t_max, width, height)

    def y(rate):
        return frame.top + frame.ph * (1 - rate / top_value)

    out = frame.open("throughput over time") + frame.bands(periods)
    for i in range(5):
        value = top_value * i / 4
        out.append(f'<line x1="{frame.left}" x2="{frame.left + frame.pw}" y1="{y(value):.1f}" '
                   f'y2="{y(value):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{frame.left - 5}" y="{y(value) + 4:.1f}" text-anchor="end">'
                   f'{value:g}/s</text>')
    out += frame.time_axis()
    for typ, color in COLORS.items():
        line = " ".join(f"{frame.x((i + 0.5) * bucket_s):.1f},{y(c / bucket_s):.1f}"
                        for i, c in enumerate(counts[typ]))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>')
    out += frame.close()
    legend = " ".join(f'<span class="swatch" style="background:{c}"></span>{t}'
                      for t, c in COLORS.items()) + fault_legend(periods)
    return "\n".join(out) + (f'<div class="legend">{legend} <span class="muted">'
                             f'(completions per second, {bucket_s:g} s buckets)</span></div>')


def _process_order(process) -> tuple:
    text = str(process)
    number = text.lstrip("-").isdigit()
    return (not number, int(text) if number else 0, text)


# A timeline column's colour. A failed op is a definite outcome (it did not happen: a cas
# that lost, a read refused), common in a healthy run, so a column of mostly ok ops with
# some failed ones is "ok+fail", not painted red as a worst-outcome rule painted every
# column of a healthy register run; an indeterminate (info) op is rare and always shown.
TIMELINE_KINDS = {"ok": COLORS["ok"], "ok+fail": "#a9e34b", "fail": COLORS["fail"],
                  "info": COLORS["info"]}


def _column_kind(counts: dict) -> str:
    outcomes = {outcome for _, outcome in counts}
    if "info" in outcomes:
        return "info"
    return "ok+fail" if len(outcomes) == 2 else outcomes.pop()


def timeline_svg(history: list[dict], lanes: int = TIMELINE_LANES,
                 columns: int = TIMELINE_COLUMNS, px_per_s: float = 40.0) -> str:
    """Every client op on its process's lane (Jepsen's timeline), coloured by outcome, with
    the faults shaded; hover a bar for its ops. Wider than the page for long runs: it
    scrolls."""
    ops = _timed_ops(history)
    if not ops:
        return "<p>No timeline: the history has no real times.</p>"
    periods = fault_periods(history)
    t_max = max([op[1] for op in ops] + [p["end_s"] for p in periods] + [1.0])
    by_process: dict = {}
    for op in ops:
        by_process.setdefault(op[3].get("process"), []).append(op)
    processes = sorted(by_process, key=_process_order)
    hidden = processes[lanes:]
    processes = processes[:lanes]
    lane_h, left = 14, 70
    plot_w = int(min(max(900, t_max * px_per_s), columns * 2))
    frame = _Frame(t_max, plot_w + left + 10, 8 + lane_h * len(processes) + 26, left=left)
    # Columns of 50 ms or more, and at most TIMELINE_BARS bars in all (a bar per column
    # per lane at worst, when outcomes alternate).
    cols = max(1, min(columns, int(frame.pw), int(t_max / 0.05),
                      max(50, TIMELINE_BARS // max(1, len(processes)))))
    col_s = t_max / cols
    bars: dict[str, list[str]] = {kind: [] for kind in TIMELINE_KINDS}
    titled: list[str] = []
    out = frame.open("operations per process over time") + frame.bands(periods)
    out += frame.time_axis()
    for i, process in enumerate(processes):
        yy = frame.top + i * lane_h
        out.append(f'<text x="{left - 5}" y="{yy + 10}" text-anchor="end">'
                   f'{escape(str(process))}</text>')
        columns_of: dict[int, dict] = {}      # column -> {(f, outcome): n}
        for t0, t1, typ, invoke, _ in by_process[process]:
            key = (str(invoke.get("f")), typ if typ in ("ok", "fail") else "info")
            for c in range(int(t0 / col_s), min(cols - 1, int(t1 / col_s)) + 1):
                counts = columns_of.setdefault(c, {})
                counts[key] = counts.get(key, 0) + 1
        runs: list[list] = []                 # [first column, last column, kind, counts]
        for c in sorted(columns_of):
            counts = columns_of[c]
            r = _column_kind(counts)
            if runs and runs[-1][2] == r and runs[-1][1] == c - 1:
                runs[-1][1] = c
                for k, v in counts.items():
                    runs[-1][3][k] = runs[-1][3].get(k, 0) + v
            else:
                runs.append([c, c, r, dict(counts)])
        for first, last, r, counts in runs:
            x0, x1 = frame.x(first * col_s), frame.x((last + 1) * col_s)
            width = max(1, round(x1 - x0))
            if r == "info":                # rare and worth a look: says what is in it
                what = ", ".join(f"{n} {f} {t}" for (f, t), n in sorted(counts.items())[:6])
                titled.append(f'<rect x="{x0:.0f}" y="{yy + 2}" width="{width}" '
                              f'height="{lane_h - 4}" fill="{COLORS["info"]}"><title>process '
                              f'{escape(str(process))} {first * col_s:.2f}-'
                              f'{(last + 1) * col_s:.2f}s: {escape(what)}</title></rect>')
            else:                          # one path per outcome: ~20 bytes a bar
                bars[r].append(f"M{x0:.0f} {yy + 2}h{width}v{lane_h - 4}h-{width}z")
    for kind, drawn in bars.items():
        if drawn:
            out.append(f'<path d="{"".join(drawn)}" fill="{TIMELINE_KINDS[kind]}"/>')
    out += titled
    total_bars = sum(len(b) for b in bars.values()) + len(titled)
    out += frame.close()
    legend = " ".join(f'<span class="swatch" style="background:{c}"></span>{t}'
                      for t, c in TIMELINE_KINDS.items()) + fault_legend(periods)
    note = (f" {len(processes)} processes" + (f" (and {len(hidden)} more not drawn)" if hidden else "")
            + f"; one column = {col_s * 1000:.0f} ms: info if any op in it ended info, else "
            f"ok, fail, or ok+fail when both; {total_bars:,} bars")
    return ('<div class="scroll">' + "\n".join(out) + "</div>"
            + f'<div class="legend">{legend} <span class="muted">{note}</span></div>')
