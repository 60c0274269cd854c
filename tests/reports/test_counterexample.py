"""The linearizability counterexample a reader sees (issue 15, item 4): every state the
object could be in when the failing op completes, only ops that could really go next
offered as alternatives, full op labels with their values, step numbers apart from the
labels, and the node that served each op."""

import re

from checkers.linearizable import check_history, failure_frontier
from reports import html
from reports.linearizability import failure_svg


def ev(index, type_, process, f, value, node=None):
    op = {"index": index, "type": type_, "process": process, "f": f, "value": value, "key": 7,
          "time": index * 1_000_000}
    if node:
        op["node"] = node
    return op


def racing_history():
    """write 1 completes; write 3 is in flight; two reads return 4, which nothing wrote.
    When the first read completes the register is 1 or 3 (depending on whether write 3
    took effect yet), never 4; the other read cannot go next either."""
    return [ev(0, "invoke", 0, "write", 1), ev(1, "ok", 0, "write", 1, "n1"),
            ev(2, "invoke", 1, "write", 3),
            ev(3, "invoke", 2, "read", None), ev(4, "invoke", 4, "read", None),
            ev(5, "ok", 2, "read", 4, "n5"),
            ev(6, "ok", 4, "read", 4, "n4"),
            ev(7, "ok", 1, "write", 3, "n1")]


def only_failure():
    result = check_history(racing_history())
    assert result["valid"] is False
    [failure] = result["failures"]
    return failure


def test_the_failure_names_every_possible_state_not_one():
    failure = only_failure()
    assert failure["possible_states"] == ["1", "3"] and failure["possible_states_complete"]
    assert "can only be 1, 3" in failure["message"]


def test_could_go_next_lists_only_ops_legal_in_some_possible_state():
    """The longest prefix already holds write 1 and write 3; the other read of 4 was
    offered as 'could go next' though it cannot be linearized either."""
    failure = only_failure()
    assert [p["description"] for p in failure["linearized_prefix"]] == ["write 1", "write 3"]
    assert failure["concurrent"] == []
    assert [(c["process"], c["description"]) for c in failure["also_blocked"]] == [(4, "read -> 4")]


def test_the_frontier_stops_at_its_budget_and_says_so():
    from checkers.linearizable import operations_from_history
    from checkers.models import make_model
    model = make_model("register")
    [ops] = operations_from_history(racing_history(), model=model).values()
    blocking = next(op for op in ops if op.process == 2)
    assert failure_frontier(model, ops, blocking)["complete"]
    assert not failure_frontier(model, ops, blocking, budget=1)["complete"]


def svg_texts(svg):
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_labels_are_whole_with_the_value_read_and_the_node():
    failure = only_failure()
    page = html.render(title="t", config={"seed": 1}, history=racing_history(),
                       results={"valid": False, "linearizable": {"valid": False,
                                                                  "failures": [failure]}})
    svg = page[page.index('class="lanes"'):page.index("</svg>", page.index('class="lanes"'))]
    texts = svg_texts(svg)
    assert "read -&gt; 4 @n5" in texts and "write 1 @n1" in texts
    assert not any(t in ("rea", "wri", "rea", "writ") for t in texts)


def test_step_numbers_sit_above_the_bars_not_on_the_labels():
    svg = failure_svg(only_failure())
    bars = [(float(x), float(y), float(w), float(h)) for x, y, w, h in re.findall(
        r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg)]
    circles = [(float(cx), float(cy), float(r)) for cx, cy, r in re.findall(
        r'<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"', svg)]
    assert circles
    for cx, cy, r in circles:
        for x, y, w, h in bars:
            inside_x = x <= cx <= x + w
            assert not (inside_x and y < cy + r and cy - r < y + h), "a step number covers a bar"


def test_possible_states_are_in_numeric_order():
    history = [ev(0, "invoke", 0, "write", 11), ev(1, "ok", 0, "write", 11),
               ev(2, "invoke", 1, "write", 5), ev(3, "invoke", 2, "read", None),
               ev(4, "ok", 2, "read", 7), ev(5, "ok", 1, "write", 5)]
    [failure] = check_history(history)["failures"]
    assert failure["possible_states"] == ["5", "11"]
