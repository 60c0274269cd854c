"""The runner: one test, end to end.

    validate names -> store folder -> Docker + image -> containers -> system setup
    -> generator (clients + nemesis schedule, then heal, then final reads)
    -> ALWAYS: heal every fault, collect node logs, remove containers and network
    -> check the history -> results.json, report.html -> exit code

Guarantees:
* every fault is healed and every container removed on normal exit, on an exception,
  on Ctrl-C and on SIGTERM (signals are turned into an exception in the main thread, and
  ignored while cleanup runs, so a second Ctrl-C cannot interrupt it);
* the run has a hard deadline (time limit plus bounded setup, final phase and teardown);
  a watchdog past it cleans up what it can and exits 3, so a run never hangs;
* the history is flushed per event, so whatever happens it can be checked afterwards.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from checkers import UNKNOWN, compose
from harness import generator as gen
from harness import image, registry, store
from harness.control import docker as docker_backend
from harness.errors import (EXIT_HARNESS_FAILURE, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID,
                            HarnessError, UsageError)
from harness.generator import SECOND
from harness.history import HistoryWriter
from harness.interpreter import Clock, run as interpret
from nemeses.schedule import NemesisDispatcher, fault_cycle
from reports import html as html_report
from reports import junit as junit_report

log = logging.getLogger("harness")

SETUP_BUDGET_S = 120
FINAL_PHASE_BUDGET_S = 45
TEARDOWN_BUDGET_S = 60
RECOVERY_PAUSE_S = 3.0


@dataclass
class TestConfig:
    system: str
    workload: str | None = None
    nemeses: list[str] = field(default_factory=list)
    nodes: int = 5
    concurrency: int | None = None
    time_limit: float = 60.0
    rate: float = 0.0
    nemesis_interval: float = 10.0
    seed: int | None = None
    store: str = store.DEFAULT_STORE
    system_opts: list[str] = field(default_factory=list)
    partition_shapes: list[str] | None = None
    process_targets: list[str] | None = None
    check_time_limit: float = 120.0
    keep_cluster: bool = False
    deadline: float | None = None   # hard deadline of the whole run (s); None: the default

    @property
    def test_name(self) -> str:
        parts = [self.system] + [o for o in self.system_opts] + [self.workload or "default"]
        parts.append("+".join(self.nemeses) if self.nemeses else "none")
        return "-".join(parts)


@dataclass
class RunContext:
    """What a nemesis may use: the cluster, the system, the run's logger."""

    cluster: object
    system: object
    log: logging.Logger

    def primaries(self) -> list[str]:
        try:
            return self.system.primaries(self.cluster)
        except Exception as e:
            self.log.warning("could not determine primaries: %s", e)
            return []


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path | None
    results: dict | None
    message: str


class Interrupted(HarnessError):
    """Ctrl-C or SIGTERM during a run."""


def exit_code_for(valid) -> int:
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def resolve(cfg: TestConfig):
    """Look everything up by name before touching Docker (bad names: exit 4, fast)."""
    if cfg.nodes < 1:
        raise UsageError(f"--nodes must be at least 1, got {cfg.nodes}")
    if cfg.time_limit <= 0:
        raise UsageError(f"--time-limit must be positive, got {cfg.time_limit:g}")
    if cfg.deadline is not None and cfg.deadline <= 0:
        raise UsageError(f"--deadline must be positive, got {cfg.deadline:g}")
    if cfg.nemesis_interval <= 0:
        raise UsageError(f"--nemesis-interval must be positive, got {cfg.nemesis_interval:g}")
    system = registry.lookup("system", cfg.system, "--system")(cfg.system_opts)
    cfg.workload = cfg.workload or system.default_workload
    workload = registry.lookup("workload", cfg.workload, "--workload")()
    if cfg.workload not in system.workloads:
        raise UsageError(f"--workload {cfg.workload!r} is not supported by {cfg.system}; "
                         f"valid: {', '.join(system.workloads)}")
    nemeses = {}
    for name in cfg.nemeses:
        cls = registry.lookup("nemesis", name, "--nemesis")
        if name == "partition" and cfg.partition_shapes:
            nemeses[name] = cls(cfg.partition_shapes)
        elif name in ("kill", "pause") and cfg.process_targets:
            nemeses[name] = cls(cfg.process_targets)
        else:
            nemeses[name] = cls()
    if cfg.concurrency is None:
        cfg.concurrency = 2 * cfg.nodes
    if cfg.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {cfg.concurrency}")
    if cfg.seed is None:
        cfg.seed = random.SystemRandom().randrange(2**31)
    return system, workload, nemeses


def build_generator(cfg: TestConfig, workload, history: HistoryWriter):
    limit = int(cfg.time_limit * SECOND)
    main = gen.clients(gen.TimeLimit(limit, gen.stagger_rate(cfg.rate, workload.generator({}))))
    parts = [main]
    if cfg.nemeses:
        parts.append(gen.nemesis(gen.TimeLimit(limit, fault_cycle(cfg.nemeses, cfg.nemesis_interval))))
    return gen.phases(
        gen.any_of(*parts),
        gen.nemesis(gen.Once({"f": "heal", "value": {"action": "heal-all"}})),
        gen.Sleep(int(RECOVERY_PAUSE_S * SECOND)),
        gen.clients(gen.Lazy(lambda ctx: workload.final_generator(history.ops))),
    )


def _file_logging(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


class _Signals:
    """Turn SIGINT/SIGTERM into Interrupted in the main thread; ignore them during cleanup."""

    def __init__(self):
        self.previous = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._raise)

    def _raise(self, signum, frame):
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    def shield(self):
        for sig in self.previous:
            signal.signal(sig, signal.SIG_IGN)

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _print(message: str, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout)


def run_test(cfg: TestConfig, echo=_print) -> RunOutcome:
    system, workload, nemeses = resolve(cfg)
    # Pre-flight before anything is written: no engine or no image means no run folder.
    client = docker_backend.connect()
    image_tag = image.require(client)
    rng = random.Random(cfg.seed)
    run_dir = store.new_run_dir(cfg.store, cfg.test_name)
    handler = _file_logging(run_dir / "harness.log")
    run_id = uuid.uuid4().hex[:8]
    config = {**asdict(cfg), "test_name": cfg.test_name, "run_id": run_id,
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv}
    store.write_json(run_dir / "test.json", config)
    log.info("run %s: %s (seed %d) in %s", run_id, cfg.test_name, cfg.seed, run_dir)

    signals = _Signals()
    docker_cluster = None
    cluster = None
    dispatcher = None
    history = HistoryWriter(str(run_dir / "history.jsonl"))
    failure: HarnessError | None = None
    interrupted = False
    hard_deadline_s = cfg.deadline or (SETUP_BUDGET_S + cfg.time_limit + FINAL_PHASE_BUDGET_S
                                       + TEARDOWN_BUDGET_S + 30)

    def cleanup():
        if dispatcher is not None:
            errors = dispatcher.heal_all()
            if errors:
                log.error("could not heal: %s", ", ".join(errors))
        if cluster is not None:
            _collect_logs(cluster, system, run_dir)
        if docker_cluster is not None and not cfg.keep_cluster:
            docker_cluster.destroy()

    def watchdog_expired():
        log.error("hard deadline of %gs passed: cleaning up and exiting", hard_deadline_s)
        echo(f"error: the run exceeded its hard deadline ({hard_deadline_s:g}s); "
             f"history kept at {run_dir / 'history.jsonl'}", err=True)
        try:
            history.close()
            cleanup()
        finally:
            os._exit(EXIT_HARNESS_FAILURE)

    watchdog = threading.Timer(hard_deadline_s, watchdog_expired)
    watchdog.daemon = True
    clock = Clock()
    try:
        signals.install()
        watchdog.start()
        t0 = time.monotonic()
        docker_cluster = docker_backend.DockerCluster(
            client, run_id, image_tag, cfg.nodes,
            {"harness.test": cfg.test_name[:60]})
        cluster = docker_cluster.create()
        run = RunContext(cluster, system, log)
        system.setup(cluster)
        ready_s = time.monotonic() - t0
        log.info("cluster ready in %.1fs", ready_s)
        echo(f"cluster of {cfg.nodes} {cfg.system} nodes ready in {ready_s:.1f}s; "
             f"running for {cfg.time_limit:g}s with {cfg.concurrency} clients"
             + (f", nemesis {'+'.join(cfg.nemeses)} every {cfg.nemesis_interval:g}s" if cfg.nemeses else ""))
        dispatcher = NemesisDispatcher(nemeses, run, random.Random(rng.random()))
        clock = Clock()          # time 0 of the history: the start of the workload
        config["cluster_ready_s"] = round(ready_s, 2)
        interpret(build_generator(cfg, workload, history), concurrency=cfg.concurrency,
                  nodes=cluster.nodes, make_client=system.client(cluster, cfg.workload),
                  nemesis=dispatcher, history=history, clock=clock,
                  stop_at=int((cfg.time_limit + FINAL_PHASE_BUDGET_S) * SECOND), rng=rng)
    except Interrupted as e:
        interrupted = True
        failure = e
        log.warning("%s", e)
    except HarnessError as e:
        failure = e
        log.error("%s", e)
    except Exception as e:  # a bug in the harness: keep the traceback in harness.log
        log.exception("harness failure")
        failure = HarnessError(f"internal error: {type(e).__name__}: {e} (traceback in "
                               f"{run_dir / 'harness.log'})")
    finally:
        signals.shield()
        try:
            if dispatcher is not None and dispatcher.active:
                for kind in list(dispatcher.active):
                    history.append({"process": "nemesis", "type": "info", "f": kind,
                                    "value": {"phase": "end", "final": True}, "time": clock()})
            cleanup()
        except Exception as e:
            log.exception("cleanup failed")
            echo(f"warning: cleanup failed ({e}); run `harness clean`", err=True)
        finally:
            history.close()
            watchdog.cancel()
            signals.restore()

    config["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    store.write_json(run_dir / "test.json", config)
    if failure is not None and not history.ops:
        results = {"valid": UNKNOWN, "error": str(failure)}
        store.write_json(run_dir / "results.json", results)
        logging.getLogger().removeHandler(handler)
        return RunOutcome(failure.exit_code, run_dir, results, str(failure))

    results = check(workload, history.ops, cfg)
    if failure is not None:
        results["error"] = str(failure)
    store.write_json(run_dir / "results.json", results)
    try:
        junit_report.write(run_dir / "junit.xml", cfg.test_name, results)
        html_report.write(run_dir / "report.html", title=cfg.test_name, config=config,
                          history=history.ops, results=results)
    except Exception as e:   # the verdict stands without the report; keep the traceback
        log.exception("writing the report failed")
        echo(f"warning: could not write the report ({type(e).__name__}: {e}); "
             f"results are in {run_dir / 'results.json'}", err=True)
    logging.getLogger().removeHandler(handler)
    if failure is not None:
        what = "interrupted" if interrupted else "failed"
        return RunOutcome(failure.exit_code, run_dir, results,
                          f"run {what}: {failure}; partial history checked: "
                          f"{html_report.verdict_word(results['valid'])}")
    return RunOutcome(exit_code_for(results["valid"]), run_dir, results,
                      summary_line(cfg.test_name, results))


def check(workload, history: list[dict], cfg: TestConfig) -> dict:
    outcomes = {}
    for name, (checker, options) in workload.checkers(
            {"check_time_limit_s": cfg.check_time_limit}).items():
        outcomes[name] = checker.check(history, options)
    return compose(outcomes)


def summary_line(test_name: str, results: dict) -> str:
    parts = []
    for name, r in results.items():
        if isinstance(r, dict) and "valid" in r:
            detail = f"{r.get('ops', '?')} ops on {r.get('partitions', '?')} keys" \
                if "partitions" in r else ""
            if r.get("invalid_keys"):
                detail += f"; not linearizable on key(s) {', '.join(map(str, r['invalid_keys'][:5]))}"
            if r.get("unknown_reason"):
                detail += f"; {r['unknown_reason']}"
            parts.append(f"{name}: {html_report.verdict_word(r['valid'])} ({detail})")
    return f"{test_name}: {html_report.verdict_word(results['valid'])} - " + "; ".join(parts)


def _collect_logs(cluster, system, run_dir: Path) -> None:
    for node in cluster.nodes:
        for path in system.log_files(node):
            try:
                cluster.remote.download(node, path, str(run_dir / "nodes" / node))
            except Exception as e:
                log.warning("could not collect %s from %s: %s", path, node, e)
