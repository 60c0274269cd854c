"""A real pgha history: Patroni 3.0.2's split brain, recorded by
`harness test --system pgha --workload list-append --nemesis pause --process-targets primaries
--time-limit 120` on 2026-11-28 (tests/checkers/data/pgha-split-brain.jsonl.gz, 18,000 events).

n2 (the primary) was paused from 20 s to 40 s; n1 was promoted and acknowledged appends from
about 32 s; when n2 resumed it took the leader key back, n1 was rewound, and what n1 had
acknowledged vanished. The checker must name those appends as lost, with when they were
acknowledged, and explain the rest as cycles; at serializable (no real-time order) the
lost appends are not anomalies by themselves, but the incompatible orders and cycles are."""

import gzip
import json
import os

from checkers import list_append

HISTORY = os.path.join(os.path.dirname(__file__), "data", "pgha-split-brain.jsonl.gz")


def history():
    with gzip.open(HISTORY, "rt") as f:
        return [json.loads(line) for line in f]


def test_the_appends_a_rewound_primary_acknowledged_are_lost():
    h = history()
    by_index = {op["index"]: op for op in h}
    pauses = [op for op in h if op["process"] == "nemesis" and op["f"] == "pause"
              and op["type"] != "invoke"]
    assert pauses[0]["value"]["nodes"] == ["n2"]
    result = list_append.check(h, ["strict-serializable"])
    assert result["valid"] is False
    lost = result["anomalies"]["lost-append"]
    assert lost and "lost-append" in result["anomaly-types"]
    for a in lost:
        ack = by_index[a["op"]]
        assert ack["type"] == "ok" and ack["node"] == "n1"       # the rewound primary
        assert 30 < a["acknowledged_s"] < 41                     # while n2 was paused
        assert ["append", a["key"], a["element"]] in ack["value"]
        reader = by_index[a["read"]]
        assert reader["type"] == "ok" and all(
            a["element"] not in (m[2] or []) for m in reader["value"] if m[1] == a["key"])
    assert "incompatible-order" in result["anomaly-types"]
    assert any(t.endswith("-realtime") for t in result["anomaly-types"])
    serializable = list_append.check(h, ["serializable"])
    assert serializable["valid"] is False
    assert "lost-append" not in serializable["anomaly-types"]
