import os

import pytest

from harness.errors import InputError
from harness.formats import detect, load
from harness.formats.edn import EDNError, read_all
from harness.formats.jepsen import load_edn
from tests.conftest import CORPUS


def test_edn_reader_handles_what_jepsen_writes():
    [(line, value)] = read_all('[{:a 1, :b [1 2] :c nil :d "x\\ny" :e #{1} :f -1.5 :g #_ 3 4} ; c\n]')
    assert value == [{"a": 1, "b": [1, 2], "c": None, "d": "x\ny", "e": [1], "f": -1.5, "g": 4}]
    forms = read_all('{:index 1 :value #jepsen.history.Op{:x 1}}\n{:index 2}')
    assert [f[0] for f in forms] == [1, 2] and forms[0][1]["value"] == {"x": 1}


def test_edn_errors_carry_the_line():
    with pytest.raises(EDNError) as e:
        read_all("[{:a 1}\n {:b 2]\n")
    assert e.value.line == 2


@pytest.mark.parametrize("rel, fmt", [
    ("porcupine/jepsen/etcd_000.log", "porcupine-etcd"),
    ("porcupine/kv/c01-ok.txt", "porcupine-kv"),
    ("knossos/cas-register/bad/cas-failure.edn", "edn"),
    ("elle/histories/paper-example.json", "json"),
    ("elle/jepsen/bank.edn", "edn"),
])
def test_formats_are_detected(rel, fmt):
    assert detect(os.path.join(CORPUS, rel)) == fmt


@pytest.mark.parametrize("name", ["c01-ok.txt", "c10-bad.txt"])
def test_kv_fast_path_reads_exactly_what_the_edn_reader_reads(name):
    path = os.path.join(CORPUS, "porcupine", "kv", name)
    assert load(path).ops == load_edn(path)


def test_independent_tuples_become_keys(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text("[{:process 0 :type :invoke :f :write :value [3 1]}\n"
                    " {:process 0 :type :ok :f :write :value [3 1]}\n"
                    " {:process 1 :type :invoke :f :cas :value [3 [1 2]]}]")
    ops = load(str(path)).ops
    assert [(op["key"], op["value"]) for op in ops] == [(3, 1), (3, 1), (3, [1, 2])]


def test_bad_porcupine_line_names_file_and_line(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0 :bogus :read nil\n")
    with pytest.raises(InputError, match=r"etcd.log:2: unknown op type :bogus"):
        load(str(path))


def test_unknown_format_is_a_usage_error(tmp_path):
    from harness.errors import UsageError
    path = tmp_path / "x.jsonl"
    path.write_text("")
    with pytest.raises(UsageError, match="valid: jsonl"):
        load(str(path), "yaml")


# --- Hostile and unlucky input: every problem is an InputError at path:line --------------

OP = '{"index":%d,"type":"invoke","process":0,"f":"read","value":null}\n'
FORMAT_SAMPLES = {
    "jsonl": (OP % 0 + OP % 1).encode(),
    "json": ('[' + (OP % 0).strip() + ',\n' + (OP % 1).strip() + ']\n').encode(),
    "edn": b'[{:process 0 :type :invoke :f :read :value nil}\n {:process 0 :type :ok :f :read :value 1}]\n',
    "porcupine-etcd": b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t1\n",
    "porcupine-kv": b'{:process 0, :type :invoke, :f :get, :key "a", :value nil}\n'
                    b'{:process 0, :type :ok, :f :get, :key "a", :value ""}\n',
}


@pytest.mark.parametrize("fmt", sorted(FORMAT_SAMPLES))
def test_bytes_that_are_not_utf8_are_an_input_error_at_their_line(tmp_path, fmt):
    data = FORMAT_SAMPLES[fmt]
    second_line = data.index(b"\n") + 3
    path = tmp_path / "h"
    path.write_bytes(data[:second_line] + b"\xff\xfe" + data[second_line:])
    with pytest.raises(InputError, match=r":2: not UTF-8 text \(byte 0xff"):
        load(str(path), fmt)


@pytest.mark.parametrize("fmt", sorted(FORMAT_SAMPLES))
def test_every_format_records_the_line_of_each_op(tmp_path, fmt):
    path = tmp_path / "h"
    path.write_bytes(FORMAT_SAMPLES[fmt])
    loaded = load(str(path), fmt)
    assert loaded.lines == [1, 2]
    assert [loaded.line_of(op) for op in loaded.ops] == [1, 2]
    assert loaded.line_of(dict(loaded.ops[1])) == 2          # a copy: by its index
    assert loaded.line_of({"index": 99}) is None and loaded.line_of({}) is None


def test_edn_op_lines_are_the_lines_of_their_opening_braces(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(";; a comment\n[{:process 0\n  :type :invoke :f :read :value nil}\n\n"
                    " {:process 0 :type :ok\n  :f :read :value 1}]\n")
    assert load(str(path)).lines == [2, 5]


@pytest.mark.parametrize("fmt, deep", [
    ("jsonl", '{"type":"invoke","process":0,"f":"txn","value":%s}\n'),
    ("json", '[{"type":"invoke","process":0,"f":"txn","value":%s}]\n'),
])
@pytest.mark.parametrize("depth", [150, 100_000])
def test_deep_nesting_in_json_is_an_input_error(tmp_path, fmt, deep, depth):
    path = tmp_path / "h"
    path.write_text(deep % ("[" * depth + "]" * depth))
    with pytest.raises(InputError, match=r":1: value nested more than \d+ levels deep"):
        load(str(path), fmt)


@pytest.mark.parametrize("fmt, text", [
    ("edn", "[{:process 0 :type :invoke :f :txn :value %s}]"),
    ("porcupine-etcd", "INFO  jepsen.util - 0 :invoke :read %s"),
    ("porcupine-kv", "{:process 0 :type :invoke :f :get :key %s :value nil}"),
])
def test_deep_nesting_in_edn_is_an_input_error(tmp_path, fmt, text):
    path = tmp_path / "h"
    depth = 200_000
    path.write_text(text % ("[" * depth + "]" * depth) + "\n")
    with pytest.raises(InputError, match=r":1: value nested more than \d+ levels deep"):
        load(str(path), fmt)


def test_a_long_edn_string_costs_memory_in_proportion_to_its_length():
    """The old token pattern backtracked per character: a 2 MB string took 370 MB."""
    import tracemalloc
    text = '{:value "' + "x" * 2_000_000 + '"}'
    tracemalloc.start()
    try:
        [(_, value)] = read_all(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(value["value"]) == 2_000_000
    assert peak < 30_000_000


@pytest.mark.parametrize("text, what", [
    ("{:a " + "1" * 5000 + "}", "integer of 5000 digits"),
    ("{{:a 1} 2}", "map key"),
    ("{[[1]] 2}", "map key"),
    ('{:a "unterminated}', "unexpected character"),
])
def test_edn_oddities_are_edn_errors(text, what):
    with pytest.raises(EDNError, match=what):
        read_all(text)


def test_a_file_larger_than_max_bytes_is_refused(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text("".join(OP % i for i in range(100)))
    assert len(load(str(path), max_bytes=100_000).ops) == 100
    with pytest.raises(InputError, match="larger than the limit.*--max-input-mb"):
        load(str(path), max_bytes=1000)


def test_reading_past_the_time_limit_raises_read_time_limit(tmp_path):
    from harness.errors import EXIT_UNKNOWN, HarnessError
    from harness.formats import ReadTimeLimit
    path = tmp_path / "h.jsonl"
    path.write_text(OP % 0)
    with pytest.raises(ReadTimeLimit) as e:
        load(str(path), time_limit_s=0)
    assert isinstance(e.value, HarnessError) and not isinstance(e.value, InputError)
    assert e.value.exit_code == EXIT_UNKNOWN and "time limit" in str(e.value)


@pytest.mark.parametrize("fmt", [None, "jsonl", "edn"])
def test_special_files_are_refused_unless_allowed(tmp_path, fmt):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        with pytest.raises(InputError, match="not a regular file"):
            load(path, fmt)
    with pytest.raises(InputError, match="is a directory"):
        load(str(tmp_path), fmt)


def test_an_allowed_fifo_is_read_and_one_nobody_writes_to_times_out(tmp_path):
    import threading

    from harness.formats import ReadTimeLimit
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as f:
            f.write(OP % 0 + OP % 1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        loaded = load(str(fifo), "jsonl", allow_special=True, time_limit_s=30)
    finally:
        writer.join(30)
    assert [op["index"] for op in loaded.ops] == [0, 1]
    with pytest.raises(ReadTimeLimit):
        load(str(fifo), "jsonl", allow_special=True, time_limit_s=0.2)
    with pytest.raises(InputError, match="larger than the limit"):
        load("/dev/zero", "jsonl", allow_special=True, time_limit_s=30, max_bytes=1 << 20)


# --- index: unique, strictly increasing integers (docs/history-format.md) ------------------

@pytest.mark.parametrize("indexes, bad_line, what", [
    ([0, 0], 2, "index 0 does not follow index 0"),
    ([1, 0], 2, "index 0 does not follow index 1"),
    ([0, '"<script>alert(1)</script>"'], 2, "field `index` must be a non-negative integer"),
    (["1.5", 2], 1, "field `index` must be"),
    (["true", 2], 1, "field `index` must be"),
    ([0, None], 2, "missing `index`"),
    ([None, 1], 2, "the first op has none"),
])
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_indexes_must_be_strictly_increasing_integers(tmp_path, fmt, indexes, bad_line, what):
    lines = []
    for i in indexes:
        field = "" if i is None else f'"index":{i},'
        lines.append('{%s"type":"invoke","process":%d,"f":"read","value":null}' % (field, len(lines)))
    path = tmp_path / "h"
    path.write_text("[" + ",\n".join(lines) + "]\n" if fmt == "json" else "\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        load(str(path), fmt)
    assert f"{path}:{bad_line}: " in str(e.value) and what in str(e.value)


def test_edn_indexes_are_validated_and_kept(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text("[{:index 3 :process 0 :type :invoke :f :read :value nil}\n"
                    " {:index 7 :process 0 :type :ok :f :read :value nil}]\n")
    assert [op["index"] for op in load(str(path)).ops] == [3, 7]
    path.write_text("[{:index 3 :process 0 :type :invoke :f :read :value nil}\n"
                    " {:index 3 :process 0 :type :ok :f :read :value nil}]\n")
    with pytest.raises(InputError, match=r"h.edn:2: index 3 does not follow index 3"):
        load(str(path))


def test_ops_without_indexes_are_numbered_in_file_order(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('[{"type":"invoke","process":0,"f":"read"},{"type":"ok","process":0,"f":"read"}]')
    assert [op["index"] for op in load(str(path)).ops] == [0, 1]


# --- issue 9 items 2 and 4 ----------------------------------------------------------------

def test_elle_json_independent_tuples_become_keys(tmp_path):
    """Issue 9 item 2: a valid independent-key history was one register, so INVALID."""
    from checkers.linearizable import check_history
    path = tmp_path / "h.json"
    path.write_text("""[
{"index":0,"type":"invoke","process":0,"f":"write","value":["k1",1]},
{"index":1,"type":"ok","process":0,"f":"write","value":["k1",1]},
{"index":2,"type":"invoke","process":1,"f":"write","value":["k2",2]},
{"index":3,"type":"ok","process":1,"f":"write","value":["k2",2]},
{"index":4,"type":"invoke","process":0,"f":"read","value":["k1",null]},
{"index":5,"type":"ok","process":0,"f":"read","value":["k1",1]},
{"index":6,"type":"invoke","process":1,"f":"cas","value":["k2",[2,3]]},
{"index":7,"type":"ok","process":1,"f":"cas","value":["k2",[2,3]]}]""")
    loaded = load(str(path))
    assert [(op["key"], op["value"]) for op in loaded.ops] == [
        ("k1", 1), ("k1", 1), ("k2", 2), ("k2", 2), ("k1", None), ("k1", 1),
        ("k2", [2, 3]), ("k2", [2, 3])]
    assert check_history(loaded.ops, semantics=loaded.semantics)["valid"] is True


KV_EDN = """[{:process 0, :type :invoke, :f :put, :key "x",
  :value "a"}
 {:process 0, :type :ok, :f :put, :key "x", :value "a"}
 {:process 1, :type :invoke, :f :append, :key "x", :value "b"}
 {:process 1, :type :ok, :f :append, :key "x", :value "b"}
 {:process 0, :type :invoke, :f :get, :key "x", :value nil}
 {:process 0, :type :ok, :f :get, :key "x", :value "ab"}
 {:process 2, :type :invoke, :f :append, :key "y", :value "c"}
 {:process 2, :type :ok, :f :append, :key "y", :value "c"}
 {:process 2, :type :invoke, :f :get, :key "y", :value nil}
 {:process 2, :type :ok, :f :get, :key "y", :value "c"}]
"""


def test_a_multi_line_edn_vector_of_kv_ops_is_edn_and_checks_as_kv(tmp_path):
    """Issue 9 item 4: detected as a Porcupine kv log (and rejected), and the EDN
    register's initial 0 met a string append."""
    from checkers.linearizable import check_history
    path = tmp_path / "kv.edn"
    path.write_text(KV_EDN)
    assert detect(str(path)) == "edn"
    loaded = load(str(path))
    assert loaded.lines == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    semantics = loaded.semantics.for_model("kv")
    assert semantics.initial is None and semantics.nil_read_is_wildcard
    assert check_history(loaded.ops, "kv", semantics=semantics)["valid"] is True


def test_edn_initial_value_is_zero_for_registers_only():
    from harness.formats import SEMANTICS
    edn = SEMANTICS["edn"]
    assert edn.initial_for(None) == 0 and edn.initial_for("register") == 0
    assert edn.initial_for("cas-register") == 0
    assert edn.initial_for("kv") is None and edn.initial_for("set") is None
    assert SEMANTICS["porcupine-kv"].initial_for(None) == ""
    assert edn.for_model("register").initial == 0


def test_a_porcupine_kv_log_is_still_detected(tmp_path):
    path = tmp_path / "kv.txt"
    path.write_bytes(FORMAT_SAMPLES["porcupine-kv"])
    assert detect(str(path)) == "porcupine-kv"


@pytest.mark.parametrize("fmt, text", [
    ("jsonl", '{"type":"invoke","process":0,"f":"write","value":NaN}\n'),
    ("jsonl", '{"type":"invoke","process":0,"f":"write","value":-Infinity}\n'),
    ("json", '[{"type":"invoke","process":0,"f":"write","value":NaN}]'),
])
def test_nan_and_infinity_are_not_json(tmp_path, fmt, text):
    """Python's json reads them; a NaN is not equal to itself, so a read of a written
    NaN would be reported as a violation."""
    path = tmp_path / "h"
    path.write_text(text)
    with pytest.raises(InputError, match=r":1: not valid JSON"):
        load(str(path), fmt)


@pytest.mark.parametrize("fmt, text", [
    ("jsonl", '{"type":"invoke","process":0,"f":"write","value":"\\ud800"}\n'),
    ("json", '[{"type":"invoke","process":0,"f":"write","value":"a\\uDFFFb"}]'),
    ("edn", '[{:type :invoke :process 0 :f :write :value "\\ud800"}]'),
])
def test_a_lone_surrogate_escape_is_an_input_error(tmp_path, fmt, text):
    path = tmp_path / "h"
    path.write_text(text)
    with pytest.raises(InputError, match=r":1: .*not half of a pair"):
        load(str(path), fmt)


@pytest.mark.parametrize("fmt, text", [
    ("jsonl", '{"type":"invoke","process":0,"f":"write","value":"\\ud83d\\ude00"}\n'),
    ("edn", '[{:type :invoke :process 0 :f :write :value "\\ud83d\\ude00"}]'),
])
def test_a_surrogate_pair_is_one_character(tmp_path, fmt, text):
    path = tmp_path / "h"
    path.write_text(text)
    assert load(str(path), fmt).ops[0]["value"] == "\U0001F600"


# --- through the real command line, in process ------------------------------------------

def run_cli(capsys, *args) -> tuple[int, str]:
    from harness.cli import main
    with pytest.raises(SystemExit) as e:
        main(["check", *args])
    return e.value.code, capsys.readouterr().err


def test_cli_every_index_zero_is_exit_4_at_the_second_line(tmp_path, capsys):
    """Issue 9 item 3: with every index 0, a stale read passed."""
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"type":"invoke","process":0,"f":"write","value":1}\n'
                    '{"index":0,"type":"ok","process":0,"f":"write","value":1}\n'
                    '{"index":0,"type":"invoke","process":1,"f":"read","value":null}\n'
                    '{"index":0,"type":"ok","process":1,"f":"read","value":null}\n')
    code, err = run_cli(capsys, str(path))
    assert code == 4 and f"{path}:2: index 0 does not follow index 0" in err


@pytest.mark.parametrize("make", ["bytes", "deep", "fifo", "dev-zero"])
def test_cli_hostile_inputs_are_exit_4_in_one_line(tmp_path, capsys, make):
    path = tmp_path / "h.jsonl"
    if make == "bytes":
        path.write_bytes(b'{"index":0,"type":"invoke","process":0,"f":"read","value":"\xff"}\n')
    elif make == "deep":
        path.write_text('{"type":"invoke","process":0,"f":"read","value":%s}\n'
                        % ("[" * 50_000 + "]" * 50_000))
    elif make == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    code, err = run_cli(capsys, str(path), "--format", "jsonl")
    assert code == 4 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_checks_an_edn_kv_history_with_model_kv(tmp_path, capsys):
    path = tmp_path / "kv.edn"
    path.write_text(KV_EDN)
    code, err = run_cli(capsys, str(path), "--format", "edn", "--model", "kv")
    assert code == 0, err


def test_a_json_history_that_mentions_jepsen_util_is_json(tmp_path):
    path = tmp_path / "h"
    path.write_text('{"type":"invoke","process":0,"f":"write","value":"INFO jepsen.util"}\n')
    assert detect(str(path)) == "jsonl"


@pytest.mark.parametrize("limits", [{"time_limit_s": float("nan")}, {"time_limit_s": -1},
                                    {"time_limit_s": float("inf")}, {"max_bytes": -5},
                                    {"max_bytes": 1.5}])
def test_limits_that_bound_nothing_are_usage_errors(tmp_path, limits):
    from harness.errors import UsageError
    path = tmp_path / "h.jsonl"
    path.write_text(OP % 0)
    with pytest.raises(UsageError, match="limit must be"):
        load(str(path), **limits)


def test_detecting_an_allowed_device_reads_only_its_head():
    with pytest.raises(InputError, match="not a regular file"):
        detect("/dev/zero")
    with pytest.raises(InputError, match="cannot tell the format"):
        detect("/dev/zero", allow_special=True)      # 4 KiB of NUL bytes, not forever
