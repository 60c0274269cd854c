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
