from reports.text import first_counterexample


def test_the_first_counterexample_of_each_kind_of_result():
    assert first_counterexample({"valid": True, "x": {"valid": True}}) == []
    lin = {"linearizable": {"valid": False, "failures": [
        {"key": 7, "message": "read -> 1 (process 3) cannot be linearized"}]}}
    assert first_counterexample(lin) == [
        "linearizable: key 7: read -> 1 (process 3) cannot be linearized"]
    steps = [f"T{i} wrote x, so T{i} precedes T{i + 1} (ww)" for i in range(9)]
    cycle = {"elle": {"valid": False, "anomalies": {"G0": [{"cycle": [1, 2, 1],
                                                             "explanation": steps}]}}}
    lines = first_counterexample(cycle)
    assert lines[0] == "elle: G0" and len(lines) == 6 and lines[-1] == "  ... (9 steps in all)"
    plain = {"bank": {"valid": False, "anomalies": {"wrong-total": [{"total": 84}]}}}
    assert first_counterexample(plain) == ['bank: wrong-total: {"total": 84}']
    long = {"c": {"valid": False, "anomalies": {"lost-append": [{"message": "x" * 500}]}}}
    assert len(first_counterexample(long)[0]) == 200
