"""Linearizability checker speed on the shared corpus, against Porcupine when available.

    .venv/bin/python bench/linearizability.py [--porcupine DIR] [--repeat 3] [--python]
                                              [--jobs 1,2]

Prints per-file and total check times (best of --repeat) for the Porcupine etcd logs,
the Porcupine kv logs and the Knossos EDN histories, with the compiled core at each job
count of --jobs (threads searching keys; default: 1 and the cores), the pure-Python engine
with --python, and the time to load each file (parse, once per repeat) on its own.
Ratios compare Porcupine with our best job count's check time. With --porcupine DIR (a checkout of
github.com/anishathalye/porcupine, built with Debian's golang-go; not part of this repo)
it also runs Porcupine's own tests for the same files in the same run, and prints the
ratios. Porcupine's 50-client kv history, which is only in its checkout, is checked too.
Peak memory (ru_maxrss) of this process is printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from checkers.linearizable import check_history, default_jobs  # noqa: E402
from harness.formats import load  # noqa: E402

CORPUS = os.path.join(os.environ.get("HARNESS_SHARED", os.path.join(os.path.dirname(ROOT), "shared")), "corpus")
KV_TESTS = {"c01-ok.txt": "TestKv1ClientOk", "c01-bad.txt": "TestKv1ClientBad",
            "c10-ok.txt": "TestKv10ClientsOk", "c10-bad.txt": "TestKv10ClientsBad",
            "c50-ok.txt": "TestKv50ClientsOk", "c50-bad.txt": "TestKv50ClientsBad"}


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


def porcupine_times(checkout: str) -> dict[str, float]:
    """Per-test seconds from `go test -v` (Go prints them to 10 ms)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
    proc = subprocess.run(["go", "test", "-count=1", "-v", "-run", "TestEtcdJepsen|TestKv", "."],
                          cwd=checkout, capture_output=True, text=True, env=env)
    times = {}
    for m in re.finditer(r"--- (?:PASS|FAIL): (\S+) \(([\d.]+)s\)", proc.stdout):
        times[m.group(1)] = float(m.group(2))
    if not times:
        sys.exit(f"porcupine's tests did not run: {proc.stdout[-500:]}{proc.stderr[-500:]}")
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
                files.append((folder, row["file"], os.path.join(CORPUS, folder, row["file"])))
    if args.porcupine:
        for name in ("c50-ok.txt", "c50-bad.txt"):
            path = os.path.join(args.porcupine, "test_data", "kv", name)
            if os.path.exists(path):
                files.append(("porcupine", f"kv/{name}", path))
    if args.only:
        files = [f for f in files if args.only in f[1]]
    go = porcupine_times(args.porcupine) if args.porcupine else {}

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
    for folder, name, path in files:
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
        if go:
            test = (f"TestEtcdJepsen{int(name[12:15]):03d}" if group == "etcd"
                    else KV_TESTS.get(name[3:]) if group == "kv" else None)
            if test in go:
                totals[(group, "porcupine")] += go[test]
                ratio = best / go[test] if go[test] else float("inf")
                row += f" {go[test] * 1000:10.0f} {ratio:6.2f}x"
        print(row)
    print()
    print("ratio: our check time / Porcupine's (go test's own time for the test, which "
          "includes its parsing): below 1 is faster than Porcupine")
    for group in ("etcd", "kv", "knossos"):
        line = f"total {group:8s}" + "".join(f"  {c}: {totals[(group, c)]:.3f}s" for c in columns)
        if go and totals[(group, "porcupine")]:
            line += (f"  porcupine: {totals[(group, 'porcupine')]:.3f}s  ratio (ours / porcupine): "
                     f"{totals[(group, 'best')] / totals[(group, 'porcupine')]:.2f}x")
        print(line)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
