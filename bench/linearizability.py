"""Linearizability checker speed on the shared corpus, against Porcupine when available.

    .venv/bin/python bench/linearizability.py [--porcupine DIR] [--repeat 3] [--python]

Prints per-file and total times (load + check, best of --repeat) for the Porcupine etcd logs,
the Porcupine kv logs and the Knossos EDN histories, with the compiled core (and the
pure-Python engine with --python). With --porcupine DIR (a checkout of
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

from checkers.linearizable import check_history  # noqa: E402
from harness.formats import load  # noqa: E402

CORPUS = os.path.join(os.environ.get("HARNESS_SHARED", os.path.join(os.path.dirname(ROOT), "shared")), "corpus")
KV_TESTS = {"c01-ok.txt": "TestKv1ClientOk", "c01-bad.txt": "TestKv1ClientBad",
            "c10-ok.txt": "TestKv10ClientsOk", "c10-bad.txt": "TestKv10ClientsBad",
            "c50-ok.txt": "TestKv50ClientsOk", "c50-bad.txt": "TestKv50ClientsBad"}


def time_file(path: str, engine: str, repeat: int) -> tuple[float, object]:
    best, verdict = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        history = load(path)
        result = check_history(history.ops, semantics=history.semantics, time_limit_s=300,
                               engine=engine)
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
    args = p.parse_args()

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
    go = porcupine_times(args.porcupine) if args.porcupine else {}

    engines = ["c"] + (["python"] if args.python else [])
    totals = {(group, e): 0.0 for group in ("etcd", "kv", "knossos") for e in engines + ["porcupine"]}
    header = f"{'file':44s} " + " ".join(f"{e + ' ms':>10s}" for e in engines)
    header += f" {'porcupine ms':>13s} {'ratio':>7s}" if go else ""
    print(header)
    for folder, name, path in files:
        group = "etcd" if name.startswith("jepsen/") else "kv" if name.startswith("kv/") else "knossos"
        row = f"{folder + '/' + name:44s}"
        ours = None
        for engine in engines:
            seconds, verdict = time_file(path, engine, args.repeat)
            totals[(group, engine)] += seconds
            row += f" {seconds * 1000:10.1f}"
            if engine == "c":
                ours = seconds
        if go:
            test = (f"TestEtcdJepsen{int(name[12:15]):03d}" if group == "etcd"
                    else KV_TESTS.get(name[3:]) if group == "kv" else None)
            if test in go:
                totals[(group, "porcupine")] += go[test]
                ratio = go[test] / ours if ours else float("inf")
                row += f" {go[test] * 1000:13.0f} {ratio:6.1f}x"
        print(row)
    print()
    for group in ("etcd", "kv", "knossos"):
        line = f"total {group:8s}" + "".join(f"  {e}: {totals[(group, e)]:.3f}s" for e in engines)
        if go and totals[(group, "porcupine")]:
            line += (f"  porcupine: {totals[(group, 'porcupine')]:.3f}s  ratio (porcupine / ours): "
                     f"{totals[(group, 'porcupine')] / totals[(group, 'c')]:.1f}x")
        print(line)
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
