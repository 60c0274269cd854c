import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def harness(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, needle", [
    (["test", "--system", "nosuch"], "valid: etcd, pgha, raftkv"),
    (["test", "--system", "raftkv", "--nemesis", "partition,nosuch"], "valid: clock, kill, packet, partition, pause"),
    (["test", "--system", "raftkv", "--system-opt", "bogus"], "valid: unsafe-reads, no-fsync"),
    (["test", "--system", "raftkv", "--partition-shapes", "square", "--nemesis", "partition"],
     "valid: halves"),
    (["test", "--system", "raftkv", "--nodes", "zero"], "--nodes"),
    (["test"], "--system"),
    (["check", "x.jsonl", "--model", "nosuch"], "valid: cas-register"),
])
def test_usage_errors_are_one_line_exit_4(args, needle):
    res = harness(*args)
    assert res.returncode == 4, res.stderr
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_check_of_a_malformed_file_names_file_and_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"type":"invoke","process":0,"f":"read","value":null}\n{oops\n'
                    '{"index":2,"type":"ok","process":0,"f":"read","value":null}\n')
    res = harness("check", str(path))
    assert res.returncode == 4
    assert f"{path}:2" in res.stderr and "Traceback" not in res.stderr


def test_check_prints_one_line_per_file_and_exits_with_the_worst_verdict(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    ops = [{"index": 0, "type": "invoke", "process": 0, "f": "write", "value": 1},
           {"index": 1, "type": "ok", "process": 0, "f": "write", "value": 1},
           {"index": 2, "type": "invoke", "process": 1, "f": "read", "value": None},
           {"index": 3, "type": "ok", "process": 1, "f": "read", "value": 1}]
    good.write_text("".join(json.dumps(o) + "\n" for o in ops))
    ops[3]["value"] = 0
    bad.write_text("".join(json.dumps(o) + "\n" for o in ops))
    res = harness("check", str(good), "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["valid"] is True
    res = harness("check", str(good), str(bad), "--report", str(tmp_path / "r.html"))
    assert res.returncode == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and "valid" in lines[0] and "INVALID" in lines[1]
    assert "not linearizable" in (tmp_path / "r-2.html").read_text()
    assert "not linearizable" not in (tmp_path / "r-1.html").read_text()


def test_every_command_has_help():
    for args in (["--help"], ["test", "--help"], ["check", "--help"], ["image", "--help"],
                 ["image", "build", "--help"], ["clean", "--help"]):
        res = harness(*args)
        assert res.returncode == 0 and "Usage:" in res.stdout, args


def test_check_transactional_histories_with_models_and_report(tmp_path):
    from tests.conftest import CORPUS
    elle = os.path.join(CORPUS, "elle")
    report = tmp_path / "elle.html"
    res = harness("check", os.path.join(elle, "histories", "si-without-g-single.edn"),
                  "--checker", "elle-list-append", "--consistency-model", "snapshot-isolation",
                  "--report", str(report))
    assert res.returncode == 0, res.stdout + res.stderr     # G2-item is allowed by SI
    res = harness("check", os.path.join(elle, "histories", "si-without-g-single.edn"),
                  "--checker", "elle-list-append", "--consistency-model", "serializable",
                  "--json", "--report", str(report))
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["anomaly-types"] == ["G2-item"] and out["not"] == ["repeatable-read"]
    html = report.read_text()
    assert "<svg" in html and "precedes itself: a cycle" in html
    res = harness("check", os.path.join(elle, "jepsen", "bank.json"), "--checker", "bank")
    assert res.returncode == 0
    res = harness("check", os.path.join(elle, "histories", "rw-register.edn"),
                  "--checker", "elle-rw-register")
    assert res.returncode == 1 and "garbage-read" in res.stdout
    res = harness("check", os.path.join(elle, "jepsen", "set.edn"), "--checker", "elle-list-append",
                  "--consistency-model", "sideways")
    assert res.returncode == 4 and "valid: read-uncommitted" in res.stderr


def test_an_internal_error_anywhere_is_exit_3_in_one_line(monkeypatch, capsys, tmp_path):
    import harness.formats
    from harness.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("something the harness did not expect\nsecond line")

    monkeypatch.setattr(harness.formats, "load", broken)
    path = tmp_path / "h.jsonl"
    path.write_text("")
    with pytest.raises(SystemExit) as e:
        main(["check", str(path)])
    err = capsys.readouterr().err
    assert e.value.code == 3
    assert err.startswith("internal error: RuntimeError: something the harness did not expect")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_impossible_fault_is_refused_before_anything_starts():
    res = harness("test", "--system", "raftkv", "--nodes", "2", "--nemesis", "kill",
                  "--process-targets", "minority")
    assert res.returncode == 4, res.stderr
    assert "a minority of 2 node(s) is nobody" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["--time-limit", "nan"], "--time-limit must be a finite number"),
    (["--rate", "nan"], "--rate must be a finite number"),
    (["--nodes", "300"], "--nodes must be at most 15"),
    (["--nemesis-interval", "100", "--time-limit", "5", "--nemesis", "partition"],
     "leaves no room"),
    (["--process-targets", "all", "--nemesis", "partition"],
     "--process-targets applies to nemesis kill, nemesis pause, none of which this test uses"),
])
def test_bad_run_flags_are_refused_in_one_line(args, needle):
    res = harness("test", "--system", "raftkv", *args)
    assert res.returncode == 4, res.stderr
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1


def write_history(tmp_path, ops, name="h.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(dict(op, index=i)) + "\n" for i, op in enumerate(ops)))
    return str(path)


@pytest.mark.parametrize("ops, checker, needle", [
    ([{"type": "invoke", "process": 0, "f": "cas", "value": 3},
      {"type": "ok", "process": 0, "f": "cas", "value": 3}], "linearizable", "cas"),
    ([{"type": "invoke", "process": 0, "f": "wrte", "value": 3},
      {"type": "ok", "process": 0, "f": "wrte", "value": 3}], "linearizable", "wrte"),
    ([{"type": "invoke", "process": 0, "f": "txn", "value": [["w", 1]]},
      {"type": "ok", "process": 0, "f": "txn", "value": [["w", 1]]}], "elle-rw-register", "w"),
    ([{"type": "invoke", "process": 0, "f": "transfer", "value": {"from": 0}},
      {"type": "ok", "process": 0, "f": "transfer", "value": {"from": 0}}], "bank", "transfer"),
])
def test_malformed_but_parseable_input_is_exit_4_naming_the_file(tmp_path, ops, checker, needle):
    path = write_history(tmp_path, ops)
    res = harness("check", path, "--checker", checker)
    assert res.returncode == 4, res.stdout + res.stderr
    import re
    assert re.match(rf"error: {re.escape(path)}:[12]: ", res.stderr), res.stderr
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_engine_c_without_the_compiled_core_is_a_usage_error(monkeypatch, capsys, tmp_path):
    import checkers.linearizable
    from harness.cli import main
    monkeypatch.setattr(checkers.linearizable, "compiled_core_available", lambda: False)
    path = write_history(tmp_path, [{"type": "invoke", "process": 0, "f": "read", "value": None}])
    with pytest.raises(SystemExit) as e:
        main(["check", path, "--engine", "c"])
    assert e.value.code == 4 and "the compiled core" in capsys.readouterr().err


def test_init_sets_the_models_initial_state(tmp_path):
    path = write_history(tmp_path, [{"type": "invoke", "process": 0, "f": "read", "value": None},
                                    {"type": "ok", "process": 0, "f": "read", "value": 0}])
    assert harness("check", path).returncode == 1           # a register starts at nil
    assert harness("check", path, "--init", "0").returncode == 0
    bad = harness("check", path, "--init", "{nope")
    assert bad.returncode == 4 and "--init" in bad.stderr


def test_concurrency_accepts_jepsens_per_node_notation():
    from harness.cli import _concurrency
    assert _concurrency("2n", 5) == 10 and _concurrency("n", 3) == 3 and _concurrency("7", 5) == 7
    res = harness("test", "--system", "raftkv", "--concurrency", "3x")
    assert res.returncode == 4 and "expected a number or Kn" in res.stderr


def test_version():
    res = harness("--version")
    assert res.returncode == 0 and res.stdout.startswith("harness, version ")


def test_bank_accounts_flag_flags_an_unexpected_account(tmp_path):
    path = write_history(tmp_path, [
        {"type": "invoke", "process": 0, "f": "read", "value": None},
        {"type": "ok", "process": 0, "f": "read", "value": {"0": 5, "1": 5, "9": 0}}])
    assert harness("check", path, "--checker", "bank", "--total", "10").returncode == 0
    res = harness("check", path, "--checker", "bank", "--total", "10", "--accounts", "0,1")
    assert res.returncode == 1, res.stdout + res.stderr


def test_shell_completion_offers_plugin_names_from_the_registry():
    env = {**os.environ, "COMP_WORDS": "harness test --system r", "COMP_CWORD": "3",
           "_HARNESS_COMPLETE": "bash_complete"}
    res = subprocess.run([sys.executable, "-m", "harness.cli"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=env)
    assert "raftkv" in res.stdout and "etcd" not in res.stdout
    env.update(COMP_WORDS="harness test --nemesis partition,k")
    res = subprocess.run([sys.executable, "-m", "harness.cli"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=env)
    assert "partition,kill" in res.stdout


def test_verbose_and_debug_work_anywhere_on_the_command_line():
    from harness.cli import hoist_global_flags
    assert hoist_global_flags(["test", "--system", "raftkv", "-v"]) == \
        ["-v", "test", "--system", "raftkv"]
    assert hoist_global_flags(["check", "--debug", "f", "--", "-v"]) == \
        ["--debug", "check", "f", "--", "-v"]
    res = harness("list", "system", "-v")
    assert res.returncode == 0 and "raftkv" in res.stdout


def test_check_writes_one_report_per_file_numbered_in_order(tmp_path):
    from tests.conftest import CORPUS
    porcupine = os.path.join(CORPUS, "porcupine", "jepsen")
    files = [os.path.join(porcupine, f"etcd_00{i}.log") for i in range(2)]
    res = harness("check", *files, "--report", str(tmp_path / "r.html"))
    assert res.returncode == 1, res.stderr
    assert sorted(os.listdir(tmp_path)) == ["r-1.html", "r-2.html"]
    assert "etcd_001.log" in (tmp_path / "r-2.html").read_text()
