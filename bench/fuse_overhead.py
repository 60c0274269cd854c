"""What the data file system of `lose-unfsynced` and `disk` (nemeses/lazyfs.py) costs a
system: ok ops/s of a healthy 5-node cluster with and without the mount, same run.

    .venv/bin/python bench/fuse_overhead.py [--system raftkv] [--time-limit 30] [--rounds 2]

Runs bench/system_throughput.py alternately without and with the mount. The mount needs a
nemesis that uses it; this one is `disk` restricted to reads with a 1 microsecond delay
(a node of raftkv or sqldb reads its files only when it starts), so what differs between the
two is the FUSE layer. Prints each run's ok ops/s and the ratio of the means (with / without).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOUNT_ONLY = ["--nemesis", "disk", "--nemesis-opt", "disk.ops=read",
              "--nemesis-opt", "disk.delay=0.001", "--nemesis-opt", "disk.eio=0"]


def ok_per_s(system: str, time_limit: float, extra: list[str]) -> float:
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "system_throughput.py"),
                          "--system", system, "--time-limit", str(time_limit), *extra],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"ok ops/s:\s+(\d+)", out).group(1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--system", default="raftkv")
    p.add_argument("--time-limit", type=float, default=30)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    plain, mounted = [], []
    for round_ in range(args.rounds):
        plain.append(ok_per_s(args.system, args.time_limit, []))
        mounted.append(ok_per_s(args.system, args.time_limit, MOUNT_ONLY))
        print(f"round {round_ + 1}: without the mount {plain[-1]:.0f} ok ops/s, "
              f"with it {mounted[-1]:.0f}", flush=True)
    base, fuse = sum(plain) / len(plain), sum(mounted) / len(mounted)
    print(f"{args.system}: {base:.0f} ok ops/s without the data file system, {fuse:.0f} with it "
          f"(ratio {fuse / base:.2f}); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
