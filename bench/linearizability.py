"""Linearizability checker speed on the shared corpus, against Porcupine when available.

    .venv/bin/python bench/linearizability.py [--porcupine DIR] [--repeat 3] [--python]
                                              [--jobs 1,2]

Prints per-file and total check times (best of --repeat) for the Porcupine etcd logs,
the Porcupine kv logs and the Knossos EDN histories, with the compiled core at each job
count of --jobs (threads searching keys; default: 1 and the cores), the pure-Python engine
with --python, and the time to load each file (parse, once per repeat) on its own.
Ratios compare Porcupine with our best job count's check time. With --porcupine DIR (a checkout of
github.com/anishathalye/porcupine, built with Debian's golang-go; not part of this repo)
it also times Porcupine's CheckEvents on the same files in the same run (a Go test written
into a temporary copy of the checkout: parsing is not timed, as ours is not), and prints the
ratios. Porcupine's 50-client kv history, which is only in its checkout, is checked too.
Peak memory (ru_maxrss) of this process is printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from checkers.linearizable import check_history, default_jobs  # noqa: E402
from harness.formats import load  # noqa: E402

CORPUS = os.path.join(os.environ.get("HARNESS_SHARED", os.path.join(os.path.dirname(ROOT), "shared")), "corpus")



def time_load(path: str, repeat: int) -> tuple[float, object]:
    best, history = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        history = load(path)
        best = min(best, time.perf_counter() - started)
    return best, history


def time_check(history, engine: str, jobs: int, repeat: int) -> tuple[float, object]:
    best, verdict = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = check_history(history.ops, semantics=history.semantics, time_limit_s=300,
                               engine=engine, jobs=jobs)
        best = min(best, time.perf_counter() - started)
        verdict = result["valid"]
    return best, verdict


# Porcupine's check time only, as ours is timed: parse first (not timed), then the best of
# `repeat` calls of CheckEvents with the test suite's own models. Written into a temporary
# copy of the checkout, so the user's checkout is left as it was.
GO_TIMER = """package porcupine

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestHarnessCheckTimes(t *testing.T) {
	repeat, _ := strconv.Atoi(os.Getenv("HARNESS_REPEAT"))
	best := func(model Model, events []Event) (time.Duration, bool) {
		var b time.Duration = -1
		var res bool
		for i := 0; i < repeat; i++ {
			start := time.Now()
			res = CheckEvents(model, events)
			if d := time.Since(start); b < 0 || d < b {
				b = d
			}
		}
		return b, res
	}
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("test_data/jepsen/etcd_%03d.log", i)
		if _, err := os.Stat(name); err == nil {
			d, res := best(etcdModel, parseJepsenLog(name))
			fmt.Printf("HARNESS jepsen/etcd_%03d.log %d %t\\n", i, d.Nanoseconds(), res)
		}
	}
	for _, n := range []string{"c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"} {
		d, res := best(kvModel, parseKvLog("test_data/kv/"+n+".txt"))
		fmt.Printf("HARNESS kv/%s.txt %d %t\\n", n, d.Nanoseconds(), res)
	}
}
"""


def porcupine_times(checkout: str, repeat: int) -> dict[str, tuple[float, bool]]:
    """Porcupine's check seconds and verdict per file (name relative to test_data/)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "porcupine")
        shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git"))
        with open(os.path.join(copy, "zz_harness_check_times_test.go"), "w") as f:
            f.write(GO_TIMER)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off",
               "HARNESS_REPEAT": str(repeat)}
        proc = subprocess.run(["go", "test", "-count=1", "-v", "-run", "TestHarnessCheckTimes",
                               "."], cwd=copy, capture_output=True, text=True, env=env)
    times = {m.group(1): (int(m.group(2)) / 1e9, m.group(3) == "true")
             for m in re.finditer(r"^HARNESS (\S+) (\d+) (true|false)$", proc.stdout, re.M)}
    if not times:
        sys.exit(f"porcupine's check times were not measured: {proc.stdout[-500:]}"
                 f"{proc.stderr[-500:]}")
    return times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--porcupine", help="a Porcupine checkout to measure in the same run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--python", action="store_true", help="also time the pure-Python engine")
    p.add_argument("--jobs", default=None,
                   help="comma-separated job counts for the compiled core (default: 1,<cores>)")
    p.add_argument("--only", default=None, help="only files whose name contains this")
    args = p.parse_args()
    job_counts = ([int(j) for j in args.jobs.split(",")] if args.jobs
                  else sorted({1, default_jobs()}))

    files = []
    for folder in ("porcupine", "knossos"):
        with open(os.path.join(CORPUS, folder, "EXPECTED.tsv")) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                files.append((folder, row["file"], os.path.join(CORPUS, folder, row["file"]),
                              row["expected"] == "linearizable"))
    if args.porcupine:
        for name in ("c50-ok.txt", "c50-bad.txt"):
            path = os.path.join(args.porcupine, "test_data", "kv", name)
            if os.path.exists(path):
                files.append(("porcupine", f"kv/{name}", path, name.endswith("-ok.txt")))
    if args.only:
        files = [f for f in files if args.only in f[1]]
    go = porcupine_times(args.porcupine, args.repeat) if args.porcupine else {}

    runs = [(f"c/{j}", "c", j) for j in job_counts] + \
        ([("python", "python", 1)] if args.python else [])
    columns = ["load"] + [name for name, _, _ in runs]
    totals = {(group, c): 0.0 for group in ("etcd", "kv", "knossos")
              for c in columns + ["best", "porcupine"]}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} cores; check times in ms, best of {args.repeat}; "
          f"c/N: compiled core, N jobs")
    header = f"{'file':44s} " + " ".join(f"{c:>9s}" for c in columns) + f" {'verdict':>8s}"
    header += f" {'porcupine':>10s} {'ratio':>7s}" if go else ""
    print(header)
    wrong = []
    for folder, name, path, expected in files:
        group = "etcd" if name.startswith("jepsen/") else "kv" if name.startswith("kv/") else "knossos"
        load_s, history = time_load(path, args.repeat)
        totals[(group, "load")] += load_s
        row = f"{folder + '/' + name:44s} {load_s * 1000:9.1f}"
        best = float("inf")
        verdicts = set()
        for column, engine, jobs in runs:
            seconds, verdict = time_check(history, engine, jobs, args.repeat)
            verdicts.add(repr(verdict))
            totals[(group, column)] += seconds
            row += f" {seconds * 1000:9.1f}"
            if engine == "c":
                best = min(best, seconds)
        totals[(group, "best")] += best
        row += f" {'/'.join(sorted(verdicts)):>8s}"
        if verdicts != {repr(expected)}:
            wrong.append(name)
            row += " WRONG"
        if go and name in go:
            seconds, go_verdict = go[name]
            totals[(group, "porcupine")] += seconds
            ratio = best / seconds if seconds else float("inf")
            agree = "" if repr(go_verdict) in verdicts else "  VERDICTS DIFFER"
            row += f" {seconds * 1000:10.1f} {ratio:6.2f}x{agree}"
        print(row)
    print()
    print("ratio: our check time / Porcupine's (CheckEvents alone, best of the same repeat, "
          "timed in Go after parsing): below 1 is faster than Porcupine")
    for group in ("etcd", "kv", "knossos"):
        line = f"total {group:8s}" + "".join(f"  {c}: {totals[(group, c)]:.3f}s" for c in columns)
        if go and totals[(group, "porcupine")]:
            line += (f"  porcupine: {totals[(group, 'porcupine')]:.3f}s  ratio (ours / porcupine): "
                     f"{totals[(group, 'best')] / totals[(group, 'porcupine')]:.2f}x")
        print(line)
    print(f"verdicts: {len(files) - len(wrong)} of {len(files)} as expected (the corpus's "
          f"EXPECTED.tsv; Porcupine's c50 files by name)" + (f"; WRONG: {', '.join(wrong)}"
                                                              if wrong else ""))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
