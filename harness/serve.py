"""`harness serve`: the runs of a store as a small web site, on loopback by default.

`/` lists the runs (test, start, verdict in colour, duration, seed) with links to each
run's report and files; every other path is a file of the store, served read-only by the
standard library's handler (which refuses paths outside the store). Everything shown is
escaped: test names and errors come from files anyone could have written.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
from urllib.parse import quote

from .runs import list_runs

COLOURS = {"valid": "#2b8a3e", "INVALID": "#c92a2a", "unknown": "#e67700"}
FILES = ("report.html", "results.json", "history.jsonl", "junit.xml", "harness.log",
         "test.json")


def index_page(store: str) -> str:
    rows = []
    for run in reversed(list_runs(store)):
        rel = os.path.relpath(run.path, store)
        links = " ".join(f'<a href="/{quote(rel)}/{name}">{name}</a>' for name in FILES
                         if (run.path / name).exists())
        colour = COLOURS.get(run.verdict, "#777")
        duration = f"{run.duration_s:.0f} s" if run.duration_s is not None else ""
        rows.append(
            f"<tr><td>{html.escape(run.test)}</td><td>{html.escape(run.started_at)}</td>"
            f'<td><span style="background:{colour};color:#fff;padding:.1em .5em;'
            f'border-radius:3px">{html.escape(run.verdict)}</span></td>'
            f"<td>{duration}</td><td>{run.seed if run.seed is not None else ''}</td>"
            f"<td>{links}</td></tr>")
    body = "\n".join(rows) or '<tr><td colspan="6">no runs yet</td></tr>'
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>harness runs</title>"
            "<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;"
            "border-bottom:1px solid #eee;text-align:left}</style></head><body>"
            f"<h1>Runs in {html.escape(store)}</h1><table><tr><th>test</th><th>started</th>"
            f"<th>verdict</th><th>duration</th><th>seed</th><th>files</th></tr>{body}"
            "</table></body></html>")


class StoreHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, store: str, **kwargs):
        self.store = store
        super().__init__(*args, directory=store, **kwargs)

    def do_GET(self):
        if self.path in ("/", "/index.html"):
            page = index_page(self.store).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def make_server(store: str, host: str = "127.0.0.1", port: int = 8080):
    handler = functools.partial(StoreHandler, store=store)
    return http.server.ThreadingHTTPServer((host, port), handler)
