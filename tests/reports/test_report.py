from checkers.linearizable import check_history
from reports import html
from reports.cycles import cycle_svg
from reports.plots import fault_periods, latency_svg


def sample_history():
    return [
        {"index": 0, "type": "invoke", "process": 0, "f": "write", "value": 1, "time": 0, "key": 1},
        {"index": 1, "type": "ok", "process": 0, "f": "write", "value": 1, "time": 2_000_000, "key": 1},
        {"index": 2, "type": "info", "process": "nemesis", "f": "partition",
         "value": {"phase": "start", "shape": "one", "groups": [["n1"], ["n2", "n3"]]}, "time": 3_000_000},
        {"index": 3, "type": "invoke", "process": 1, "f": "read", "value": None, "time": 4_000_000, "key": 1},
        {"index": 4, "type": "ok", "process": 1, "f": "read", "value": None, "time": 9_000_000, "key": 1},
        {"index": 5, "type": "info", "process": "nemesis", "f": "partition", "value": {"phase": "end"},
         "time": 10_000_000},
    ]


def test_fault_periods_pair_start_and_end():
    [period] = fault_periods(sample_history())
    assert period["fault"] == "partition" and period["start_s"] == 0.003 and period["end_s"] == 0.01


def test_an_unhealed_fault_is_shaded_to_the_end_of_the_run():
    history = sample_history()[:-1]
    [period] = fault_periods(history)
    assert period["end_s"] == 0.009


def test_latency_plot_shades_faults_and_plots_every_completed_op():
    import re
    svg = latency_svg(sample_history())
    assert len(re.findall(r"M\d+ \d+h0", svg)) == 2 and "partition 0.0-0.0s" in svg


def test_report_of_an_invalid_history_has_the_verdict_and_the_lanes_view():
    history = sample_history()
    result = check_history(history)
    page = html.render(title="t", config={"seed": 1, "nodes": 3}, history=history,
                       results={"valid": result["valid"], "linearizable": result})
    assert "INVALID" in page and "key 1 is not linearizable" in page
    assert 'class="lanes"' in page and "cannot be linearized" in page
    assert "<script" not in page          # self-contained, no scripts


def test_cycle_drawing_names_each_transaction_and_edge():
    cycle = {"steps": [{"from": 3, "to": 5, "type": "rw", "key": "x"},
                       {"from": 5, "to": 3, "type": "wr", "key": "y"}]}
    svg = cycle_svg(cycle)
    assert "T3" in svg and "T5" in svg and "rw x" in svg and "wr y" in svg


def test_junit_has_a_case_per_checker_failing_on_anomalies_and_skipping_unknown():
    import xml.etree.ElementTree as ET

    from reports.junit import render
    xml = render("run", {"valid": False,
                         "linearizable": {"valid": False, "invalid_keys": [3], "elapsed_s": 0.5},
                         "bank": {"valid": "unknown", "reason": "no ok reads"},
                         "set": {"valid": True}})
    suite = ET.fromstring(xml)
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite}
    assert "key(s) 3" in cases["linearizable"].find("failure").get("message")
    assert cases["bank"].find("skipped").get("message") == "no ok reads"
    assert list(cases["set"]) == []


def busy_history(seconds=30, processes=10, per_second=50):
    """Many ops: each process does `per_second` ops a second, every 7th fails, one info;
    a partition from 10 s to 20 s and a kill from 12 s to 14 s."""
    history, index = [], 0

    def add(**op):
        nonlocal index
        history.append({"index": index, **op})
        index += 1

    step = 1e9 / per_second
    for i in range(int(seconds * per_second)):
        t = int(i * step)
        if i == 10 * per_second:
            add(type="info", process="nemesis", f="partition", value={"phase": "start"}, time=t)
        if i == 12 * per_second:
            add(type="info", process="nemesis", f="kill", value={"phase": "start"}, time=t)
        if i == 14 * per_second:
            add(type="info", process="nemesis", f="kill", value={"phase": "end"}, time=t)
        if i == 20 * per_second:
            add(type="info", process="nemesis", f="partition", value={"phase": "end"}, time=t)
        for p in range(processes):
            add(type="invoke", process=p, f="read", value=None, key=p, time=t)
        for p in range(processes):
            outcome = "fail" if (i + p) % 7 == 0 else "ok"
            add(type=outcome, process=p, f="read", value=None, key=p, time=t + int(step / 2))
    return history


def test_throughput_counts_completions_per_second_by_outcome():
    from reports.plots import throughput_svg
    svg = throughput_svg(busy_history(seconds=5))
    assert "throughput over time" in svg and "1 s buckets" in svg
    # 10 processes x 50 ops/s, 1 in 7 failing: the axis reaches the ok rate (~430/s).
    assert "400/s" in svg or "500/s" in svg


def test_fault_colours_are_fixed_per_kind_and_shaded_in_every_plot():
    from reports.plots import fault_color, throughput_svg, timeline_svg
    history = busy_history(seconds=25)
    assert fault_color("partition") != fault_color("kill")
    assert fault_color("my-own-fault") == fault_color("my-own-fault")
    for svg in (latency_svg(history), throughput_svg(history), timeline_svg(history)):
        assert f'fill="{fault_color("partition")}"><title>partition 10.0-20.0s' in svg
        assert f'fill="{fault_color("kill")}"><title>kill 12.0-14.0s' in svg


def test_a_healthy_run_with_some_failed_ops_is_not_painted_red():
    """Every 7th op fails (as cas ops that lose do in a healthy register run): the columns
    holding both are ok+fail, none all red; the one crashed op's column is info."""
    import re

    from reports.plots import TIMELINE_KINDS, timeline_svg
    svg = timeline_svg(busy_history(seconds=10))
    painted = {colour: sum(int(w) for w in re.findall(r"h(\d+)v", d))
               for d, colour in re.findall(r'<path d="([^"]*)" fill="([^"]*)"/>', svg)}
    assert painted.get(TIMELINE_KINDS["ok+fail"], 0) > 0
    assert painted.get(TIMELINE_KINDS["fail"], 0) == 0
    assert painted[TIMELINE_KINDS["ok+fail"]] + painted.get(TIMELINE_KINDS["ok"], 0) > 5000


def test_a_big_history_makes_a_bounded_report():
    """60 s x 10 processes x 50 ops/s = 30,000 ops: the plots are sampled and bucketed and
    the report says so; the whole page stays well under a megabyte."""
    history = busy_history(seconds=60)
    page = html.render(title="t", config={"seed": 1, "run_id": "r"}, history=history,
                       results={"valid": True})
    assert "3,000 of 30,000 ops drawn" in page
    assert "info if any op in it ended info, else ok, fail, or ok+fail" in page
    assert len(page) < 600_000, len(page)


def test_a_run_report_links_the_files_of_its_folder():
    page = html.render(title="t", config={"seed": 1, "run_id": "r"}, history=sample_history(),
                       results={"valid": True})
    for name in ("history.jsonl", "results.json", "junit.xml", "harness.log", "nodes/"):
        assert f'href="{name}"' in page
    assert 'id="timeline"' in page and 'id="throughput"' in page


def test_a_history_without_fault_events_does_not_claim_none_were_injected():
    ops = [op for op in sample_history() if op["process"] != "nemesis"]
    page = html.render(title="t", config={"file": "h.jsonl"}, history=ops, results={"valid": True})
    assert "No faults were injected" not in page and "records no fault events" in page


def test_line_numbers_as_times_are_not_plotted_as_nanoseconds():
    """Porcupine's etcd logs number events by line: drawn as ns they would make a run of a
    microsecond. The report says the history has no real times instead."""
    history = [{**op, "time": op["index"] + 1} for op in sample_history()]
    page = html.render(title="t", config={"file": "etcd_001.log"}, history=history,
                       results={"valid": True})
    assert "No latency plot: the history has no completed operations with real times" in page
    assert "No timeline: the history has no real times" in page
    assert 'class="plot"' not in page


def test_a_failed_runs_checkers_are_marked_partial_not_green():
    history = [op for op in sample_history()]
    page = html.render(title="t", config={"seed": 1, "run_id": "r"}, history=history,
                       results={"valid": "unknown", "error": "node n3 lost mid-run",
                                "partial_valid": True,
                                "linearizable": {"valid": True, "summary": "fine so far"}})
    assert "no verdict of its own" in page and "partial: valid" in page
    assert 'class="verdict valid"' not in page
