"""A cluster of one bundled Raft server (raftkv or sqldb) as real processes on loopback
addresses (127.x.y.z), no Docker: what both servers' unit tests share."""

import json
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


class LocalCluster:
    def __init__(self, server: str, tmp_path, size=3, flags=(), subnet=88):
        base = random.randrange(1, 250)
        self.server = server
        self.ips = {f"n{i}": f"127.{subnet}.{base}.{i}" for i in range(1, size + 1)}
        self.tmp = tmp_path
        self.flags = list(flags)
        self.procs = {}
        for n in self.ips:
            self.start(n)

    def start(self, node):
        peers = ",".join(f"{n}={ip}" for n, ip in self.ips.items())
        log = open(self.tmp / f"{node}.log", "a")
        self.procs[node] = subprocess.Popen(
            [sys.executable, self.server, "--id", node, "--peers", peers, "--bind",
             self.ips[node], "--data-dir", str(self.tmp / node)] + self.flags,
            stdout=log, stderr=log)

    def kill(self, node):
        self.procs[node].send_signal(signal.SIGKILL)
        self.procs[node].wait()

    def pause(self, node):
        self.procs[node].send_signal(signal.SIGSTOP)

    def resume(self, node):
        self.procs[node].send_signal(signal.SIGCONT)

    def request(self, node, method, path, body=None, timeout=3):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.ips[node]}:8000{path}", data=data,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def status(self, node):
        try:
            return self.request(node, "GET", "/status", timeout=0.5)[1]
        except OSError:
            return None

    def leader(self, timeout=10, exclude=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in self.ips:
                if n in exclude:
                    continue
                s = self.status(n)
                if s and s["role"] == "leader" and s["commit"] >= 1:
                    return n
            time.sleep(0.05)
        raise AssertionError("no leader elected")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
