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
    svg = latency_svg(sample_history())
    assert svg.count("<circle") == 2 and "partition 0.0-0.0s" in svg


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
