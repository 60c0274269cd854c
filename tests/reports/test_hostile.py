"""A report renders hostile data as text, never as markup (issue 8, item 1).

Every view of the report (linearizability lanes, Elle cycles and explanations, bank, set
and counter results, the latency plot and fault table, the op counts, the configuration
and the raw results) is rendered from a history and results with hostile strings in every
field: keys, values, processes, f, errors, node, cycle ids, config values, checker error
messages. The page is then parsed, and every element and attribute must be one the report
itself writes: no `script`, no `img`, no event-handler attribute. The hostile strings must
still be there, as text: escaped, not dropped.
"""

import re
from html.parser import HTMLParser

import pytest

from checkers import bank, counter, list_append, sets
from checkers.linearizable import check_history
from reports import html
from reports.cycles import cycle_svg
from reports.linearizability import failure_svg
from reports.plots import latency_svg, throughput_svg, timeline_svg

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</textarea><script>alert(2)</script>",
    "]]><script>alert(3)</script>",
    "' onmouseover='alert(4)",
    "</title></style></pre><svg onload=alert(5)>",
    "<!-- --><iframe src=javascript:alert(6)>",
]
SCRIPT, IMG = HOSTILE[0], HOSTILE[1]

# What the report itself writes (HTML and the inline SVG); anything else came from data.
REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span",
               "a", "details", "summary", "strong", "br", "g",
               "table", "tr", "th", "td", "div", "ol", "ul", "li", "code", "pre", "svg", "defs",
               "marker", "path", "text", "circle", "rect", "line", "polyline"}
# The report's own links: anchors within it and the run's files beside it.
REPORT_LINKS = {"#checkers", "#counterexamples", "#latency", "#throughput", "#timeline",
                "#operations", "#faults", "#logs", "#configuration", "#raw", "history.jsonl",
                "results.json", "junit.xml", "harness.log", "test.json", "nodes/"}
# Links to the node logs in the run folder: relative, under nodes/, percent-encoded.
NODE_LOG_LINK = re.compile(r"nodes/[A-Za-z0-9_.~/%-]+")
REPORT_ATTRS = {"href", "id", "open", "lang", "charset", "class", "style", "start", "xmlns", "width", "height",
                "font-family", "font-size", "font-weight", "id", "viewbox", "refx", "refy",
                "markerwidth", "markerheight", "orient", "d", "fill", "stroke", "stroke-width",
                "marker-end", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx",
                "text-anchor", "stroke-dasharray", "stroke-linecap", "points", "role", "aria-label"}


class Elements(HTMLParser):
    """Collects every start tag with its attributes, and all text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        raise AssertionError(f"a comment in the report: {data[:80]!r}")


def assert_no_markup_from_data(page: str) -> str:
    """Parse `page`; fail on any element or attribute the report does not write itself.
    Returns the page's text (entities decoded)."""
    parser = Elements()
    parser.feed(page)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in REPORT_TAGS, f"element <{tag}> came from the data"
        for name, value in attrs:
            assert name in REPORT_ATTRS, f"attribute {name}= on <{tag}> came from the data"
            assert "javascript:" not in (value or "")
            if name == "href":
                assert value in REPORT_LINKS or NODE_LOG_LINK.fullmatch(value), \
                    f"link {value!r} came from the data"
    return "".join(parser.text)


def hostile_history():
    """A register history on hostile keys (not linearizable: a read of a value nobody
    wrote), ops with hostile f, node and error, and nemesis events with hostile fields."""
    history = []

    def op(type_, process, f, value, **extra):
        history.append({"index": len(history), "type": type_, "process": process, "f": f,
                        "value": value, "time": len(history) * 1_000_000, **extra})

    for i, h in enumerate(HOSTILE):
        p = f"{h}-p{i}"
        op("invoke", p, "write", h, key=h, node=h)
        op("ok", p, "write", h, key=h, node=h)
        op("invoke", p, "read", None, key=h)
        op("ok", p, "read", h + "never written", key=h, node=h)
    op("info", "nemesis", HOSTILE[2], {"phase": "start", HOSTILE[0]: HOSTILE[1]})
    op("invoke", 1, HOSTILE[3], HOSTILE[4])
    op("info", 1, HOSTILE[3], HOSTILE[4], error=HOSTILE[5])
    op("info", "nemesis", HOSTILE[2], {"phase": "end"})
    op("info", "nemesis", HOSTILE[6], {"phase": "start", "nodes": HOSTILE})
    return history


def hostile_cycle():
    ids = [HOSTILE[0], HOSTILE[1], 7]
    return {"cycle": ids + [ids[0]],
            "steps": [{"from": ids[i], "to": ids[(i + 1) % 3], "type": t, "key": HOSTILE[i + 2]}
                      for i, t in enumerate(["ww", HOSTILE[4], "rw"])],
            "explanation": HOSTILE,
            "ops": {h: [["append", h, h]] for h in HOSTILE},
            "type": HOSTILE[5]}


def elle_result():
    """A real list-append violation on hostile keys, plus a hand-made cycle whose ids and
    every other field are hostile (the checker gives integer ids; the report must not
    rely on that)."""
    x, y = HOSTILE[0], HOSTILE[1]
    history = [
        {"index": 0, "type": "invoke", "process": 0, "f": "txn", "value": [["append", x, 1], ["r", y, None]]},
        {"index": 1, "type": "invoke", "process": 1, "f": "txn", "value": [["append", y, 1], ["r", x, None]]},
        {"index": 2, "type": "ok", "process": 0, "f": "txn", "value": [["append", x, 1], ["r", y, []]]},
        {"index": 3, "type": "ok", "process": 1, "f": "txn", "value": [["append", y, 1], ["r", x, []]]},
    ]
    result = list_append.check(history, ["serializable"])
    assert result["valid"] is False
    anomalies = dict(result.get("anomalies") or {})
    anomalies[HOSTILE[6]] = [hostile_cycle(), {"op": HOSTILE[2], "cycle": []}, HOSTILE[3]]
    return {**result, "anomalies": anomalies, "anomaly-types": HOSTILE, "not": HOSTILE,
            "model-holds": {h: False for h in HOSTILE}}


def register_ops(history):
    """What the register checker may see: ops with a hostile `f` are input errors to it
    (MalformedOp); the report still shows them, from the whole history."""
    return [op for op in history if op["f"] in ("read", "write") or op["process"] == "nemesis"]


def hostile_results(history):
    lin = check_history(register_ops(history), "register")
    assert lin["valid"] is False and lin["failures"]
    bank_history = [
        {"index": 0, "type": "invoke", "process": 0, "f": "read", "value": None},
        {"index": 1, "type": "ok", "process": 0, "f": "read", "value": {HOSTILE[0]: 10, HOSTILE[1]: 0}},
        {"index": 2, "type": "invoke", "process": 0, "f": "read", "value": None},
        {"index": 3, "type": "ok", "process": 0, "f": "read", "value": {HOSTILE[0]: 10, HOSTILE[2]: -5}},
    ]
    set_history = [
        {"index": 0, "type": "invoke", "process": 0, "f": "add", "value": HOSTILE[3]},
        {"index": 1, "type": "ok", "process": 0, "f": "add", "value": HOSTILE[3]},
        {"index": 2, "type": "invoke", "process": 0, "f": "read", "value": None},
        {"index": 3, "type": "ok", "process": 0, "f": "read", "value": [HOSTILE[4]]},
    ]
    counter_history = [
        {"index": 0, "type": "invoke", "process": HOSTILE[0], "f": "read", "value": None},
        {"index": 1, "type": "ok", "process": HOSTILE[0], "f": "read", "value": 5},
    ]
    results = {
        "linearizable": {**lin, "unknown_reason": HOSTILE[1]},
        "elle-list-append": elle_result(),
        "bank": bank.check(bank_history),
        "set": sets.check_set(set_history),
        "counter": counter.check(counter_history),
        HOSTILE[5]: {"valid": "unknown", "error": HOSTILE[0], "unknown_reason": HOSTILE[6],
                     HOSTILE[1]: HOSTILE[2]},
    }
    assert results["bank"]["valid"] is False and results["set"]["valid"] is False
    return {"valid": False, **results}


def test_every_report_view_renders_hostile_data_as_text():
    history = hostile_history()
    results = hostile_results(history)
    config = {"seed": HOSTILE[0], "nodes": HOSTILE[1], "concurrency": HOSTILE[2],
              "time_limit": HOSTILE[3], "started_at": HOSTILE[4], HOSTILE[5]: HOSTILE[6]}
    page = html.render(title=HOSTILE[0], config=config, history=history, results=results)
    # The views are all there (else the test proves nothing).
    for view in ('class="lanes"', 'class="cycle"', 'class="plot"', "<th>fault</th>", "wrong-total",
                 '<h2 id="configuration">Configuration', '<h2 id="raw">Results', "is not linearizable", "<th>f</th>"):
        assert view in page
    text = assert_no_markup_from_data(page)
    for h in HOSTILE:
        assert h in text, f"{h!r} is not in the report's text"


def test_the_header_without_a_seed_and_the_file_name_are_escaped():
    history = hostile_history()
    page = html.render(title=IMG, config={"file": SCRIPT, "format": IMG}, history=history,
                       results={"valid": "unknown", "x": {"valid": "unknown"}})
    text = assert_no_markup_from_data(page)
    assert SCRIPT in text and IMG in text


@pytest.mark.parametrize("draw", ["cycle", "lanes", "plot", "throughput", "timeline"])
def test_svg_drawings_escape_what_they_draw(draw):
    if draw == "cycle":
        svg = cycle_svg(hostile_cycle())
    elif draw == "lanes":
        [failure, *_] = check_history(register_ops(hostile_history()), "register")["failures"]
        svg = failure_svg(failure)
    elif draw == "throughput":
        svg = throughput_svg(hostile_history())
    elif draw == "timeline":
        svg = timeline_svg(hostile_history())
    else:
        svg = latency_svg(hostile_history())
    assert "<svg" in svg
    text = assert_no_markup_from_data(svg)
    assert any(h in text for h in HOSTILE)


def test_the_checker_catches_raw_markup():
    """The check itself: markup that came from data is found."""
    for raw in [f"<p>{SCRIPT}</p>", f"<p>{IMG}</p>", '<p class="x" onclick="y">', "<!-- x -->",
                f"<div>{HOSTILE[5]}</div>"]:
        with pytest.raises(AssertionError):
            assert_no_markup_from_data(raw)


def test_junit_holds_hostile_names_and_messages_as_text():
    import xml.etree.ElementTree as ET

    from reports.junit import render
    weird = HOSTILE[0] + "\x00\x1b[31m\ud800"
    results = {weird: {"valid": False, "anomaly-types": HOSTILE, "invalid_keys": [weird],
                       "failures": [{"message": weird}], "not": [HOSTILE[1]]},
               HOSTILE[1]: {"valid": "unknown", "error": weird}}
    suite = ET.fromstring(render(HOSTILE[2], results))      # parses: well-formed XML
    assert [e.tag for e in suite.iter()] == ["testsuite", "testcase", "failure", "testcase",
                                            "skipped"]
    assert suite.get("name") == HOSTILE[2]
    assert HOSTILE[0] in suite.find("testcase/failure").text
    assert suite.findall("testcase")[1].get("name") == HOSTILE[1]


def test_a_report_of_a_history_with_a_lone_surrogate_is_written(tmp_path):
    import json
    history = [json.loads('{"index":0,"type":"invoke","process":0,"f":"w\\ud800","value":"\\udfff"}')]
    html.write(tmp_path / "r.html", title="\ud800", config={"file": "\udfff"}, history=history,
               results={"valid": "unknown", "x": {"valid": "unknown", "error": "\ud800"}})
    assert_no_markup_from_data((tmp_path / "r.html").read_text(encoding="utf-8"))


def test_node_logs_with_hostile_names_and_lines_are_text_and_relative_links(tmp_path):
    """A node's log file names and contents come from the node: escaped as text, linked
    only as percent-encoded paths under nodes/; a symbolic link a node left is not read."""
    run_dir = tmp_path / "run"
    folder = run_dir / "nodes" / "n1" / "sys"
    folder.mkdir(parents=True)
    for i, h in enumerate(HOSTILE[:4]):
        (folder / f"{i}{h.replace('/', '_')}.log").write_text(f"line {h}\n" * 5)
    (tmp_path / "secret").write_text("SECRET-OUTSIDE-THE-RUN")
    (folder / "link.log").symlink_to(tmp_path / "secret")
    page = html.render(title="t", config={"seed": 1, "run_id": "r"}, history=hostile_history(),
                       results={"valid": True}, run_dir=run_dir)
    assert 'id="logs"' in page
    text = assert_no_markup_from_data(page)
    for h in HOSTILE[:4]:
        assert f"line {h}" in text
    assert "SECRET-OUTSIDE-THE-RUN" not in page


def test_node_log_tails_are_bounded(tmp_path):
    folder = tmp_path / "nodes" / "n1"
    folder.mkdir(parents=True)
    (folder / "big.log").write_text("".join(f"line {i}\n" for i in range(100_000)))
    [log] = html.node_logs(tmp_path)
    assert log["tail"].splitlines()[-1] == "line 99999"
    assert len(log["tail"].splitlines()) == html.LOG_TAIL_LINES
    assert log["size"] > 500_000 and log["href"] == "nodes/n1/big.log"
