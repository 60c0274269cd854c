"""Fuzzing the loaders: mutated histories of every format end in an op list or an input
error, never a traceback or a hang (issue 8, item 2).

Seeds are small histories of each format (from ../shared/corpus, cut to a few dozen ops,
and a few written here); each is mutated a few hundred times (byte flips, insertions of
bytes and of EDN/JSON tokens, deletions, truncations, duplicated or swapped lines, ASCII
replacements, deep nesting, very long tokens, and stacks of those). Each case is loaded
with `harness.formats.load`, with the format given or detected, then checked with the
seed's checker.

* Loaders (harness/formats, harness/history.py) may raise only InputError or UsageError
  (ReadTimeLimit only past its time limit), and what they return must be valid ops with
  strictly increasing integer indexes and a line each: anything else fails
  `test_loaders_raise_only_input_errors`, with the seed and the case number to replay.
* Checkers may give a verdict or raise `checkers.MalformedOp` (an input error the CLI
  reports at file:line). Other exceptions are crashes of the checkers, which check_safe
  turns into unknown; `test_checkers_give_a_verdict_or_a_malformed_op` lists them.

Every case runs under an interval timer (`HANG_S`): a case that does not finish is a
hang, reported as a failure, not waited for.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import traceback
from collections import Counter
from dataclasses import dataclass, field

import pytest

from checkers import UNKNOWN, MalformedOp
from harness import registry
from harness.errors import InputError, UsageError
from harness.formats import ReadTimeLimit, load
from tests.conftest import CORPUS

MUTATIONS_PER_SEED = 300
HANG_S = 30            # far above any case (milliseconds each): only a hang reaches it
READ_TIME_LIMIT_S = 10
CHECK_TIME_LIMIT_S = 2
MAX_BYTES = 8 << 20
CLI_EVERY = 10         # every 10th case also goes through `harness check`

REGISTER_JSONL = "".join(json.dumps(op) + "\n" for op in [
    {"index": 0, "type": "invoke", "process": 0, "f": "write", "key": 1, "value": 1, "time": 10},
    {"index": 1, "type": "invoke", "process": 1, "f": "read", "key": 1, "value": None, "time": 11},
    {"index": 2, "type": "ok", "process": 0, "f": "write", "key": 1, "value": 1, "time": 20},
    {"index": 3, "type": "ok", "process": 1, "f": "read", "key": 1, "value": 1, "time": 21},
    {"index": 4, "type": "invoke", "process": 0, "f": "cas", "key": 2, "value": [None, 3], "time": 30},
    {"index": 5, "type": "info", "process": "nemesis", "f": "partition",
     "value": {"phase": "start", "groups": [["n1"], ["n2", "n3"]]}, "time": 31},
    {"index": 6, "type": "fail", "process": 0, "f": "cas", "key": 2, "value": [None, 3], "time": 40,
     "error": "timeout", "node": "n1"},
    {"index": 7, "type": "invoke", "process": 1, "f": "write", "key": 2, "value": 5, "time": 50},
    {"index": 8, "type": "info", "process": 1, "f": "write", "key": 2, "value": 5, "time": 60},
    {"index": 9, "type": "info", "process": "nemesis", "f": "partition", "value": {"phase": "end"},
     "time": 61},
]).encode()

KV_EDN = b"""[{:process 0, :type :invoke, :f :put, :key "x",
  :value "a"}
 {:process 0, :type :ok, :f :put, :key "x", :value "a"}
 {:process 1, :type :invoke, :f :append, :key "x", :value "b"}
 {:process 1, :type :ok, :f :append, :key "x", :value "b"}
 {:process 0, :type :invoke, :f :get, :key "x", :value nil}
 {:process 0, :type :ok, :f :get, :key "x", :value "ab"}]
"""


def _head_lines(rel: str, lines: int) -> bytes:
    with open(os.path.join(CORPUS, rel), "rb") as f:
        return b"".join(f.readlines()[:lines])


def _json_head(rel: str, items: int) -> bytes:
    with open(os.path.join(CORPUS, rel)) as f:
        ops = json.load(f)[:items]
    return ("[" + ",\n".join(json.dumps(op) for op in ops) + "]\n").encode()


def _inline_case(workload: str) -> bytes:
    with open(os.path.join(CORPUS, "elle", "inline_cases.jsonl")) as f:
        case = next(c for c in map(json.loads, f) if c["workload"] == workload
                    and c["fn"] == "check" and 6 <= len(c["history"]) <= 30)
    return "".join(json.dumps({"index": i, **op}) + "\n"
                   for i, op in enumerate(case["history"])).encode()


def _file(rel: str) -> bytes:
    with open(os.path.join(CORPUS, rel), "rb") as f:
        return f.read()


@dataclass
class Seed:
    name: str
    data: bytes
    fmt: str
    checker: str
    options: dict = field(default_factory=dict)


def seeds() -> list[Seed]:
    lin = "linearizable"
    return [
        Seed("register.jsonl", REGISTER_JSONL, "jsonl", lin, {"model": "cas-register"}),
        Seed("list-append.jsonl", _inline_case("list-append"), "jsonl", "elle-list-append"),
        Seed("rw-register.jsonl", _inline_case("rw-register"), "jsonl", "elle-rw-register"),
        Seed("paper-example.json", _file("elle/histories/paper-example.json"), "json",
             "elle-list-append"),
        Seed("rw-register.json", _file("elle/histories/rw-register.json"), "json",
             "elle-rw-register"),
        Seed("bank.json", _json_head("elle/jepsen/bank.json", 30), "json", "bank"),
        Seed("counter.json", _json_head("elle/jepsen/counter.json", 30), "json", "counter"),
        Seed("set_full.json", _json_head("elle/jepsen/set_full.json", 30), "json", "set-full"),
        Seed("cas-register-bug.edn", _file("knossos/cas-register/good/cas-register-bug.edn"),
             "edn", lin, {"model": "cas-register"}),
        Seed("bad-analysis.edn", _file("knossos/cas-register/bad/bad-analysis.edn"), "edn", lin,
             {"model": "cas-register"}),
        Seed("kv.edn", KV_EDN, "edn", lin, {"model": "kv"}),
        Seed("paper-example.edn", _file("elle/histories/paper-example.edn"), "edn",
             "elle-list-append"),
        Seed("rw-register.edn", _file("elle/histories/rw-register.edn"), "edn",
             "elle-rw-register"),
        Seed("bank-neg.edn", _file("elle/jepsen/bank-neg.edn"), "edn", "bank"),
        Seed("set.edn", _file("elle/jepsen/set.edn"), "edn", "set"),
        Seed("long-fork.edn", _file("elle/jepsen/long-fork.edn"), "edn", "long-fork"),
        Seed("etcd_002.log", _head_lines("porcupine/jepsen/etcd_002.log", 40), "porcupine-etcd",
             lin),
        Seed("c01-ok.txt", _head_lines("porcupine/kv/c01-ok.txt", 40), "porcupine-kv", lin,
             {"model": "kv"}),
    ]


# Tokens of the formats, and bytes that are not UTF-8, to insert or put in place of others.
TOKENS = [b"[", b"]", b"{", b"}", b"(", b")", b"#{", b"#_", b"#inst", b'"', b"\\", b":", b",",
          b"nil", b"null", b"true", b"false", b"-1", b"0", b"1e999", b"NaN", b"1.5", b"99999999999999999999",
          b":index", b'"index":', b":type", b'"type":', b":invoke", b'"ok"', b":info", b'"fail"',
          b":process", b'"process":', b'"nemesis"', b":f", b'"f":', b":value", b'"value":',
          b'"key":', b"\n", b"\r\n", b"\t", b" ", b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8",
          b"\xef\xbb\xbf", b";", b"INFO  jepsen.util - ", b":cas", b'"cas"', b'["r", 1, null]',
          b'["append", 1, 2]', b"[:r 1 nil]", b"[1 [2 3]]", b"[[1 2]]", b'"\\u00"', b'"\\ud800"', b'NaN', b'Infinity']


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation of `data`, and its name."""
    kind = rng.choice(["flip", "insert-token", "insert-bytes", "delete", "truncate",
                       "duplicate-line", "swap-lines", "ascii", "deep", "long-token",
                       "drop-line"])
    n = len(data)
    at = rng.randrange(n + 1)
    if kind == "flip" and n:
        at = min(at, n - 1)
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:], kind
    if kind == "insert-token":
        return data[:at] + rng.choice(TOKENS) + data[at:], kind
    if kind == "insert-bytes":
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:], kind
    if kind == "delete":
        return data[:at] + data[at + rng.randint(1, 40):], kind
    if kind == "truncate":
        return data[:at], kind
    if kind in ("duplicate-line", "swap-lines", "drop-line"):
        lines = _lines(data)
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if kind == "duplicate-line":
            lines.insert(i, lines[i])
        elif kind == "swap-lines":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            del lines[i]
        return b"".join(lines), kind
    if kind == "ascii" and n:
        at = min(at, n - 1)
        return data[:at] + bytes([rng.randrange(32, 127)]) + data[at + 1:], kind
    if kind == "deep":
        depth = rng.choice([99, 101, 150, 3000, 100_000])
        opener, closer = rng.choice([(b"[", b"]"), (b"{", b"}"), (b"(", b")"), (b'{"a":', b"}")])
        return data[:at] + opener * depth + b"1" + closer * depth + data[at:], kind
    # long-token
    token = rng.choice([b'"' + b"x" * 300_000 + b'"', b"7" * 300_000, b":" + b"k" * 300_000,
                        b" " * 300_000, b"\\" * 1000])
    return data[:at] + token + data[at:], kind


def cases():
    """(seed, case number, bytes, mutation names, format or None); reproducible."""
    for seed in seeds():
        for number in range(MUTATIONS_PER_SEED):
            rng = random.Random(f"{seed.name}/{number}")
            data, names = seed.data, []
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                data, name = mutate(data, rng)
                names.append(name)
            yield seed, number, data, names, (seed.fmt if rng.random() < 0.8 else None)


class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang(f"a case ran for more than {HANG_S}s")


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame of the project's code in `exc`'s traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/site-packages/" not in f.filename and "/lib/python" not in f.filename]
    last = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{os.path.relpath(last.filename)}:{last.lineno}"


@dataclass
class FuzzRun:
    outcomes: Counter = field(default_factory=Counter)
    mutations: Counter = field(default_factory=Counter)
    loader_failures: list = field(default_factory=list)
    checker_crashes: list = field(default_factory=list)
    cli_exits: Counter = field(default_factory=Counter)
    cli_crashes: list = field(default_factory=list)
    total: int = 0


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory) -> FuzzRun:
    path = str(tmp_path_factory.mktemp("fuzz") / "history")
    checkers = {}
    run = FuzzRun()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for seed, number, data, names, fmt in cases():
            run.total += 1
            run.mutations.update(names)
            with open(path, "wb") as f:
                f.write(data)
            label = f"{seed.name} case {number} ({'+'.join(names)}, format {fmt or 'detected'})"
            signal.setitimer(signal.ITIMER_REAL, HANG_S)
            try:
                run.outcomes[_one(path, seed, fmt, label, checkers, run)] += 1
                if number % CLI_EVERY == 0:
                    _through_the_cli(path, seed, fmt, label, run)
            except Hang as e:
                run.loader_failures.append(f"{label}: HANG {e}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"\nfuzz: {run.total} cases; outcomes {dict(run.outcomes)}; "
          f"mutations {dict(run.mutations)}; {len(run.loader_failures)} loader failures; "
          f"{len(run.checker_crashes)} checker crashes; through the CLI: exits "
          f"{dict(run.cli_exits)}, {len(run.cli_crashes)} tracebacks")
    return run


def _one(path: str, seed: Seed, fmt: str | None, label: str, checkers: dict, run: FuzzRun) -> str:
    try:
        loaded = load(path, fmt, time_limit_s=READ_TIME_LIMIT_S, max_bytes=MAX_BYTES)
    except (InputError, UsageError):
        return "input-error"
    except ReadTimeLimit:
        return "read-time-limit"
    except Hang:
        raise
    except BaseException as e:  # noqa: BLE001 - what the test is looking for
        run.loader_failures.append(f"{label}: {type(e).__name__}: {str(e)[:200]} at {_where(e)}")
        return "loader-crash"
    problem = _loaded_invariant_broken(loaded)
    if problem:
        run.loader_failures.append(f"{label}: loaded, but {problem}")
        return "loader-crash"
    if seed.checker not in checkers:
        checkers[seed.checker] = registry.lookup("checker", seed.checker)()
    model = seed.options.get("model")
    options = {"time_limit_s": CHECK_TIME_LIMIT_S, "semantics": loaded.semantics.for_model(model),
               "consistency_models": ["strict-serializable"], **seed.options}
    try:
        result = checkers[seed.checker].check(loaded.ops, options)
    except MalformedOp:
        return "malformed-op"
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        run.checker_crashes.append((seed.checker, type(e).__name__, _where(e), label))
        return "checker-crash"
    if not isinstance(result, dict) or not (result.get("valid") in (True, False)
                                            or result.get("valid") == UNKNOWN):
        run.checker_crashes.append((seed.checker, "no verdict", repr(result)[:100], label))
        return "checker-crash"
    return f"verdict-{result['valid']}"


def _through_the_cli(path: str, seed: Seed, fmt: str | None, label: str, run: FuzzRun) -> None:
    """`harness check` in process, as a user would run it on this case."""
    from harness.cli import main
    args = ["check", path, "--checker", seed.checker, "--time-limit", str(CHECK_TIME_LIMIT_S)]
    args += ["--format", fmt] if fmt else []
    args += ["--model", seed.options["model"]] if "model" in seed.options else []
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(args)
        run.cli_exits["returned"] += 1
    except SystemExit as e:
        run.cli_exits[e.code] += 1
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        run.cli_crashes.append((type(e).__name__, _where(e), label))


def _loaded_invariant_broken(loaded) -> str | None:
    """What a loader promises of what it returns, or None if it holds: every op passes
    harness.history.validate, indexes are integers increasing strictly, and there is
    a line for each op."""
    from harness.history import validate
    if len(loaded.lines) != len(loaded.ops):
        return f"{len(loaded.lines)} lines for {len(loaded.ops)} ops"
    previous = -1
    for op in loaded.ops:
        problem = validate(op)
        if problem:
            return f"op {op!r:.100} is invalid: {problem}"
        if type(op.get("index")) is not int or op["index"] <= previous:
            return f"index {op.get('index')!r} after {previous}"
        previous = op["index"]
    return None


def test_the_fuzz_run_is_thousands_of_cases_of_every_format(fuzz_run):
    assert fuzz_run.total >= 3000
    assert set(s.fmt for s in seeds()) == {"jsonl", "json", "edn", "porcupine-etcd", "porcupine-kv"}
    # Mutations produce both kinds of outcome (else the mutations or the seeds are broken).
    assert fuzz_run.outcomes["input-error"] > 300
    assert sum(v for k, v in fuzz_run.outcomes.items() if k.startswith("verdict-")) > 300


def test_loaders_raise_only_input_errors(fuzz_run):
    assert not fuzz_run.loader_failures, (
        f"{len(fuzz_run.loader_failures)} cases: " + "\n".join(fuzz_run.loader_failures[:10]))


def test_the_cli_ends_every_case_with_an_exit_code(fuzz_run):
    """Every 10th case through `harness check`: exit 0, 1, 2 or 4, never a traceback."""
    assert sum(fuzz_run.cli_exits.values()) + len(fuzz_run.cli_crashes) >= 300
    assert set(fuzz_run.cli_exits) <= {0, 1, 2, 4}, fuzz_run.cli_exits
    assert not fuzz_run.cli_crashes, fuzz_run.cli_crashes[:10]


def test_checkers_give_a_verdict_or_a_malformed_op(fuzz_run):
    """A checker given a mutated history ends in a verdict or MalformedOp (an input error),
    never another exception (check_safe would hide it as unknown: this finds it)."""
    if fuzz_run.checker_crashes:
        by_place = Counter((checker, kind, where)
                           for checker, kind, where, _ in fuzz_run.checker_crashes)
        examples = {}
        for checker, kind, where, label in fuzz_run.checker_crashes:
            examples.setdefault((checker, kind, where), label)
        summary = "; ".join(f"{n}x {c} {k} at {w} (e.g. {examples[(c, k, w)]})"
                            for (c, k, w), n in by_place.most_common())
        pytest.fail(f"{len(fuzz_run.checker_crashes)} checker crashes: {summary}")
