"""The runner: one test, end to end.

    resolve (names, options, capabilities, feasibility: exit 4 before anything starts)
    -> backend preflight (engine + image, or SSH hosts) -> store folder -> nodes -> system setup
    -> generator (clients + nemesis schedule, then heal, then final reads), while the
       cluster monitor watches the engine, the network and every node
    -> teardown, newest resource first: stop the monitor, heal every fault, collect node
       logs, remove containers and network
    -> check the history (each checker check-safe) -> results.json, report.html, junit.xml

Guarantees:
* every resource the run creates is pushed on a `Resources` stack with its teardown, so
  faults are healed and containers removed on normal exit, on an exception, on Ctrl-C and
  on SIGTERM (signals become an exception in the main thread and are ignored while the
  teardown runs, so a second Ctrl-C cannot interrupt it);
* the run has a hard deadline; a watchdog past it runs the same teardown and exits 3;
* the history is flushed per event, so whatever happens it can be checked afterwards;
* a verdict is earned: a cluster lost mid-run is a harness failure (exit 3); a nemesis
  that never took effect, or a workload that never succeeded, makes the run unknown.

The runner names no plugin: systems, workloads and nemeses are looked up by name and
built from their declared options (harness.options), and what a nemesis needs from a
system is a capability the system declares.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checkers import UNKNOWN, check_safe, compose, merge_valid, summarize
from checkers.stats import StatsChecker
from harness import generator as gen
from harness import registry, store
from harness.control import backends
from harness.control import docker as docker_backend
from harness.errors import (EXIT_HARNESS_FAILURE, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID,
                            HarnessError, Interrupted, UsageError)
from harness.generator import SECOND
from harness.history import HistoryWriter
from harness.interpreter import Clock, run as interpret
from harness.lifecycle import ClusterMonitor, Resources
from harness.options import build, declared
from nemeses.schedule import NemesisDispatcher, fault_cycle

log = logging.getLogger("harness")

SETUP_BUDGET_S = 120
FINAL_PHASE_BUDGET_S = 45
TEARDOWN_BUDGET_S = 60
RECOVERY_PAUSE_S = 3.0
# A system whose failover takes longer declares `default_nemesis_interval` (see
# harness/system.py); this is the default for the others.
DEFAULT_NEMESIS_INTERVAL_S = 10.0

# Bounds on the run's numbers (issue: a NaN or 1e9 must be refused before anything runs).
MAX_NODES = 15            # documented in the README; every node is a container on this host
MAX_CONCURRENCY = 1000
MAX_TIME_LIMIT_S = 7 * 24 * 3600
MAX_RATE = 1_000_000


@dataclass
class TestConfig:
    __test__ = False    # not a pytest test class, despite the name
    system: str
    workload: str | None = None
    nemeses: list[str] = field(default_factory=list)
    nodes: int = 5
    concurrency: int | None = None
    time_limit: float = 60.0
    rate: float = 0.0
    nemesis_interval: float | None = None   # None: the system's default_nemesis_interval
    nemesis_overlap: bool = False           # faults of two kinds nest (nemeses/schedule.py)
    seed: int | None = None
    store: str = store.DEFAULT_STORE
    # Plugin options, as typed on the command line (strings) or already typed values:
    system_opts: dict[str, Any] = field(default_factory=dict)
    workload_opts: dict[str, Any] = field(default_factory=dict)
    nemesis_opts: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_time_limit: float = 120.0
    consistency_models: list[str] = field(default_factory=list)   # [] = the workload's default
    node_memory_mb: int = docker_backend.DEFAULT_NODE_MEMORY_MB
    node_pids: int = docker_backend.DEFAULT_NODE_PIDS
    keep_cluster: bool = False
    deadline: float | None = None   # hard deadline of the whole run (s); None: the default
    # Where the nodes come from (harness.control.backends). For ssh: the hosts as
    # `user@host:port [key=PATH]` lines, and the SSH opt-ins, all recorded in test.json.
    backend: str = "docker"
    hosts: list[str] = field(default_factory=list)
    ssh_key: str | None = None
    ssh_user: str | None = None
    sudo: bool = False
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    insecure_no_host_key_check: bool = False

    @property
    def test_name(self) -> str:
        opts = [name if value in (True, "true", "") else f"{name}={value}"
                for name, value in self.system_opts.items() if value not in (False, "false")]
        parts = [self.system] + opts + [self.workload or "default"]
        parts.append("+".join(self.nemeses) if self.nemeses else "none")
        return "-".join(parts).replace("/", "_")

    @property
    def hard_deadline_s(self) -> float:
        return self.deadline or (SETUP_BUDGET_S + self.time_limit + FINAL_PHASE_BUDGET_S
                                 + TEARDOWN_BUDGET_S + 30)


@dataclass
class Plan:
    """What `resolve` built: the plugins, ready to run."""

    system: Any
    workload: Any
    nemeses: dict[str, Any]


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


class ClusterLost(HarnessError):
    """A node, the network or the engine disappeared outside the nemesis's control."""


def exit_code_for(valid) -> int:
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def _number(flag: str, value, *, minimum=None, maximum=None, positive=False) -> None:
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value}")
    if positive and value <= 0:
        raise UsageError(f"{flag} must be positive, got {value:g}")
    if minimum is not None and value < minimum:
        raise UsageError(f"{flag} must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{flag} must be at most {maximum:g}, got {value:g}")


def validate_numbers(cfg: TestConfig) -> None:
    _number("--nodes", cfg.nodes, minimum=1, maximum=MAX_NODES)
    _number("--time-limit", cfg.time_limit, positive=True, maximum=MAX_TIME_LIMIT_S)
    _number("--rate", cfg.rate, minimum=0, maximum=MAX_RATE)
    _number("--nemesis-interval", cfg.nemesis_interval, positive=True,
            maximum=MAX_TIME_LIMIT_S)
    _number("--concurrency", cfg.concurrency, minimum=1, maximum=MAX_CONCURRENCY)
    _number("--check-time-limit", cfg.check_time_limit, positive=True,
            maximum=MAX_TIME_LIMIT_S)
    _number("--deadline", cfg.deadline, positive=True, maximum=2 * MAX_TIME_LIMIT_S)
    _number("--node-memory", cfg.node_memory_mb, minimum=64, maximum=64 * 1024)
    _number("--node-pids", cfg.node_pids, minimum=64, maximum=1_000_000)
    machine_mb = _machine_memory_mb()
    if machine_mb and cfg.nodes * cfg.node_memory_mb > machine_mb:
        raise UsageError(f"--nodes {cfg.nodes} x --node-memory {cfg.node_memory_mb} MiB is more "
                         f"than this machine's {machine_mb} MiB of memory")
    if cfg.seed is not None and not 0 <= cfg.seed < 2**63:
        raise UsageError(f"--seed must be between 0 and 2^63-1, got {cfg.seed}")


def _machine_memory_mb() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return None


def resolve(cfg: TestConfig) -> Plan:
    """Look everything up and build it before touching Docker: bad names, bad options,
    a nemesis the system cannot serve, or a fault that could never happen in this run
    are usage errors (exit 4), raised fast and before anything is created."""
    validate_numbers(cfg)
    system_cls = registry.lookup("system", cfg.system, "--system")
    system = build(system_cls, cfg.system, cfg.system_opts, "--system-opt")
    cfg.workload = cfg.workload or system.default_workload
    if cfg.nemesis_interval is None:
        cfg.nemesis_interval = float(getattr(system, "default_nemesis_interval",
                                             DEFAULT_NEMESIS_INTERVAL_S))
    workload_cls = registry.lookup("workload", cfg.workload, "--workload")
    if cfg.workload not in system.workloads:
        raise UsageError(f"--workload {cfg.workload!r} is not supported by {cfg.system}; "
                         f"valid: {', '.join(system.workloads)}")
    workload = build(workload_cls, cfg.workload, cfg.workload_opts, "--workload-opt")
    if cfg.consistency_models:
        from checkers.consistency import MODELS as CONSISTENCY_MODELS, canonical_model
        if not getattr(workload, "consistency_models", False):
            raise UsageError(f"--consistency-model applies to transactional workloads; "
                             f"{cfg.workload} is checked as its checkers define")
        for model in cfg.consistency_models:
            try:
                canonical_model(model)
            except KeyError:
                raise UsageError(f"unknown --consistency-model {model!r}; valid: "
                                 f"{', '.join(CONSISTENCY_MODELS)}") from None
    if len(set(cfg.nemeses)) != len(cfg.nemeses):
        raise UsageError(f"--nemesis names a fault twice: {','.join(cfg.nemeses)}")
    stray = sorted(set(cfg.nemesis_opts) - set(cfg.nemeses))
    if stray:
        raise UsageError(f"--nemesis-opt for {', '.join(stray)}, which is not among "
                         f"--nemesis {','.join(cfg.nemeses) or '(none)'}")
    capabilities = frozenset(getattr(system, "capabilities", ()))
    nemeses = {}
    for name in cfg.nemeses:
        cls = registry.lookup("nemesis", name, "--nemesis")
        missing = sorted(frozenset(getattr(cls, "requires", ())) - capabilities)
        if missing:
            raise UsageError(f"--nemesis {name} needs {', '.join(missing)}, which "
                             f"{cfg.system} does not support")
        nemesis = build(cls, name, cfg.nemesis_opts.get(name, {}), "--nemesis-opt")
        problems = nemesis.problems(cfg.nodes) if hasattr(nemesis, "problems") else []
        if problems:
            raise UsageError(f"--nemesis {name} cannot run on --nodes {cfg.nodes}: "
                             + "; ".join(problems))
        nemeses[name] = nemesis
    if nemeses:
        # Faults start at interval, 3 x interval, ...: every kind needs its first slot.
        needed = (2 * len(nemeses) - 1) * cfg.nemesis_interval
        if needed >= cfg.time_limit:
            raise UsageError(
                f"--nemesis-interval {cfg.nemesis_interval:g} leaves no room in --time-limit "
                f"{cfg.time_limit:g} for {'every one of ' if len(nemeses) > 1 else ''}"
                f"{', '.join(nemeses)}: the last first fault would start at {needed:g}s; "
                f"shorten the interval or lengthen the run")
    if cfg.concurrency is None:
        cfg.concurrency = 2 * cfg.nodes
    _number("--concurrency", cfg.concurrency, minimum=1, maximum=MAX_CONCURRENCY)
    if cfg.seed is None:
        cfg.seed = random.SystemRandom().randrange(2**31)
    return Plan(system, workload, nemeses)


def build_generator(cfg: TestConfig, workload, history: HistoryWriter, clock: Clock,
                    marks: dict):
    """Main phase (clients under the nemesis schedule), heal, recovery pause, final phase.

    `marks["final_phase_start"]` is set (ns on `clock`) when the final phase begins, if the
    workload has one: the stats check needs it."""
    limit = int(cfg.time_limit * SECOND)
    main = gen.clients(gen.TimeLimit(limit, gen.stagger_rate(cfg.rate, workload.generator({}))))
    parts = [main]
    if cfg.nemeses:
        parts.append(gen.nemesis(gen.TimeLimit(limit, fault_cycle(
            cfg.nemeses, cfg.nemesis_interval, overlap=cfg.nemesis_overlap))))

    def final(ctx):
        built = workload.final_generator(history.recent())
        if built is not None and "final_phase_start" not in marks:
            marks["final_phase_start"] = clock()
        return built

    return gen.phases(
        gen.any_of(*parts),
        gen.nemesis(gen.Once({"f": "heal", "value": {"action": "heal-all"}})),
        gen.Sleep(int(RECOVERY_PAUSE_S * SECOND)),
        gen.clients(gen.Lazy(final)),
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


class Progress(threading.Thread):
    """A live status line on a terminal (never when output is not a TTY or under CI):
    elapsed / limit, completions by type, the ok rate, and the faults in force."""

    def __init__(self, run: "Run", every_s: float = 1.0):
        super().__init__(name="progress", daemon=True)
        self.run_state = run
        self.every_s = every_s
        self.done = threading.Event()
        self.enabled = sys.stdout.isatty() and not os.environ.get("CI")

    def run(self) -> None:
        last_ok, last_t = 0, time.monotonic()
        while not self.done.wait(self.every_s):
            state = self.run_state
            counts = state.history.completions
            now = time.monotonic()
            rate = (counts["ok"] - last_ok) / max(now - last_t, 1e-6)
            last_ok, last_t = counts["ok"], now
            faults = ",".join(state.dispatcher.active) if state.dispatcher else ""
            line = (f"  {state.clock() / SECOND:5.0f}s/{state.cfg.time_limit:g}s  "
                    f"{counts['ok']} ok  {counts['fail']} fail  {counts['info']} info  "
                    f"{rate:6.0f} ok/s  {('fault: ' + faults) if faults else 'no fault'}")
            sys.stdout.write("\r" + line.ljust(100)[:100])
            sys.stdout.flush()

    def finish(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(timeout=2)
            sys.stdout.write("\r" + " " * 100 + "\r")
            sys.stdout.flush()


class Run:
    """One run's state while it executes: what `run_test` sets up and tears down."""

    def __init__(self, cfg: TestConfig, plan: Plan, echo):
        self.cfg, self.plan, self.echo = cfg, plan, echo
        self.started = time.monotonic()
        self.run_id: str | None = None
        self.resources = Resources()
        self.stop = threading.Event()
        self.clock = Clock()
        self.marks: dict = {}
        self.cluster = None
        self.dispatcher: NemesisDispatcher | None = None
        self.monitor: ClusterMonitor | None = None
        self.history: HistoryWriter | None = None

    def end_open_faults(self) -> None:
        """Heal everything and record the end of every fault still in force.

        A run stopped while a fault was being started (Ctrl-C mid-start) has that fault in
        force but its start never recorded (the interpreter stopped before the completion
        reached it): the start is recorded now, marked `recorded_late`, so every end in the
        history has its start."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        with dispatcher.lock:          # waits for a start still in progress
            active = list(dispatcher.active)
        recorded = {}
        for op in self.history.recent():
            if op.get("process") == "nemesis" and isinstance(op.get("value"), dict):
                recorded[op.get("f")] = op["value"].get("phase")
        errors = dispatcher.heal_all()
        for kind in active:
            if recorded.get(kind) != "start":
                start = dict(dispatcher.last_start.get(kind) or {"phase": "start"})
                self.history.append({"process": "nemesis", "type": "info", "f": kind,
                                     "value": {**start, "recorded_late": True},
                                     "time": self.clock()})
            value = {"phase": "end", "final": True}
            if kind in errors:
                value.update(failed=True, error=errors[kind])
            self.history.append({"process": "nemesis", "type": "info", "f": kind,
                                 "value": value, "time": self.clock()})
        if errors:
            self.echo("warning: could not heal " + "; ".join(errors.values()), err=True)


def run_test(cfg: TestConfig, echo=_print) -> RunOutcome:
    plan = resolve(cfg)
    # Pre-flight before anything is written: no engine, no image, a host that cannot
    # take the run (unknown key, refused login, missing tools) means no run folder.
    backend = backends.from_config(cfg)
    backend.preflight(plan, cfg.system, cfg.system_opts)
    rng = random.Random(cfg.seed)
    run_dir = store.new_run_dir(cfg.store, cfg.test_name)
    handler = _file_logging(run_dir / "harness.log")
    run_id = uuid.uuid4().hex[:8]
    config = {**asdict(cfg), "test_name": cfg.test_name, "run_id": run_id,
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv,
              "backend_info": backend.describe()}
    store.write_json(run_dir / "test.json", config)
    log.info("run %s: %s (seed %d) in %s", run_id, cfg.test_name, cfg.seed, run_dir)

    run = Run(cfg, plan, echo)
    run.run_id = run_id
    try:
        run.history = HistoryWriter(str(run_dir / "history.jsonl"))
    except HarnessError:
        logging.getLogger().removeHandler(handler)
        raise
    resources = run.resources
    resources.push("history", run.history.close)
    signals = _Signals()
    failure: HarnessError | None = None
    interrupted = False
    hard_deadline_s = cfg.hard_deadline_s

    def watchdog_expired():
        log.error("hard deadline of %gs passed: cleaning up and exiting", hard_deadline_s)
        echo(f"error: the run exceeded its hard deadline ({hard_deadline_s:g}s); "
             f"history kept at {run_dir / 'history.jsonl'}", err=True)
        try:
            run.stop.set()
            resources.close(wait_s=TEARDOWN_BUDGET_S)
        finally:
            os._exit(EXIT_HARNESS_FAILURE)

    watchdog = threading.Timer(hard_deadline_s, watchdog_expired)
    watchdog.daemon = True
    try:
        signals.install()
        watchdog.start()
        failure, interrupted = _execute(run, backend, run_id, rng, config)
    finally:
        signals.shield()
        try:
            if run.monitor is not None and run.monitor.check_now() and failure is None:
                failure = ClusterLost(f"the cluster was lost: {run.monitor.lost}")
            for error in resources.close():
                hint = (f"; run `{backend.clean_command(run_id)}`"
                        if error.startswith("cluster") else "")
                echo(f"warning: teardown: {error}{hint}", err=True)
        finally:
            watchdog.cancel()
            signals.restore()

    config["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        # Ctrl-C or SIGTERM while checking: exit 3 with a results.json that says so.
        signals.install()
        store.write_json(run_dir / "test.json", config)
        return _conclude(run, config, run_dir, failure, interrupted, echo)
    except Interrupted as e:
        log.warning("checking %s", e)
        results = {"valid": UNKNOWN, "error": f"the check was {e}", "run": run_summary(run)}
        if failure is not None:
            results["error"] = f"{failure}; then the check was {e}"
        try:
            store.write_json(run_dir / "results.json", results)
        except HarnessError:
            pass
        return RunOutcome(EXIT_HARNESS_FAILURE, run_dir, results, f"run failed: {results['error']}")
    except store.StoreError as e:
        log.error("%s", e)
        message = f"{failure}; {e}" if failure is not None else str(e)
        return RunOutcome(EXIT_HARNESS_FAILURE, run_dir, None, message)
    finally:
        signals.restore()
        logging.getLogger().removeHandler(handler)


def _execute(run: Run, backend, run_id, rng, config
             ) -> tuple[HarnessError | Interrupted | None, bool]:
    """Set up every resource, run the workload; returns (failure, interrupted)."""
    cfg, plan, resources = run.cfg, run.plan, run.resources
    try:
        t0 = time.monotonic()
        if not cfg.keep_cluster:
            resources.push("cluster", backend.destroy)
        run.cluster = cluster = backend.create(run_id, {"harness.test": cfg.test_name[:60]})
        if "log-files" in getattr(plan.system, "capabilities", ()):
            resources.push("node logs", lambda: _collect_logs(cluster, plan.system,
                                                              Path(run.history.path).parent))
        for name, nemesis in plan.nemeses.items():
            # A fault that lives below the system (a file system under its data, a clock
            # under its processes) is laid on the bare nodes, before the system exists.
            before_setup = getattr(nemesis, "before_setup", None)
            if before_setup is not None:
                undo = before_setup(cluster, plan.system)
                if undo is not None:
                    resources.push(f"{name} node setup", undo)
        plan.system.setup(cluster)
        ready_s = time.monotonic() - t0
        log.info("cluster ready in %.1fs", ready_s)
        run.echo(f"cluster of {cfg.nodes} {cfg.system} nodes ready in {ready_s:.1f}s; "
                 f"running for {cfg.time_limit:g}s with {cfg.concurrency} clients"
                 + (f", nemesis {'+'.join(cfg.nemeses)} every {cfg.nemesis_interval:g}s"
                    if cfg.nemeses else "") + f" (seed {cfg.seed})")
        context = RunContext(cluster, plan.system, log)
        run.dispatcher = NemesisDispatcher(plan.nemeses, context, random.Random(rng.random()))
        resources.push("faults", run.end_open_faults)
        run.clock = Clock()          # time 0 of the history: the start of the workload
        health = (lambda: plan.system.health(cluster)) \
            if "health" in getattr(plan.system, "capabilities", ()) else None
        run.monitor = ClusterMonitor(cluster.probe, run.stop, run.clock, health)
        run.monitor.start()
        resources.push("monitor", run.monitor.finish)
        progress = Progress(run)
        if progress.enabled:
            progress.start()
            resources.push("progress", progress.finish)
        config["cluster_ready_s"] = round(ready_s, 2)
        prepare = getattr(plan.system, "prepare", None)
        if prepare is not None:
            prepare(cluster, plan.workload)
        interpret(build_generator(cfg, plan.workload, run.history, run.clock, run.marks),
                  concurrency=cfg.concurrency, nodes=cluster.nodes,
                  make_client=plan.system.client(cluster, cfg.workload),
                  nemesis=run.dispatcher, history=run.history, clock=run.clock,
                  stop_at=int((cfg.time_limit + FINAL_PHASE_BUDGET_S) * SECOND), rng=rng,
                  stop=run.stop)
        if run.monitor.lost:
            raise ClusterLost(f"the cluster was lost mid-run: {run.monitor.lost}")
        return None, False
    except Interrupted as e:
        log.warning("%s", e)
        return e, True
    except HarnessError as e:
        log.error("%s", e)
        return e, False
    except Exception as e:  # a bug in the harness: keep the traceback in harness.log
        log.exception("harness failure")
        if run.monitor is not None and run.monitor.check_now():
            return ClusterLost(f"the cluster was lost mid-run: {run.monitor.lost}"), False
        return HarnessError(f"internal error: {type(e).__name__}: {e} (traceback in "
                            f"{Path(run.history.path).parent / 'harness.log'})"), False


def _conclude(run: Run, config: dict, run_dir: Path, failure: HarnessError | None,
              interrupted: bool, echo) -> RunOutcome:
    from reports import html as html_report

    cfg = run.cfg
    run_info = run_summary(run)
    try:
        ops = run.history.read_back()
    except HarnessError as e:      # the history file itself is unreadable: say so, keep it
        results = {"valid": UNKNOWN, "error": f"{failure or ''} {e}".strip(), "run": run_info}
        return RunOutcome(EXIT_HARNESS_FAILURE, run_dir, results,
                          f"cannot read back the history: {e}")
    if failure is not None and not any(op.get("process") != "nemesis" for op in ops):
        results = {"valid": UNKNOWN, "error": str(failure), "run": run_info}
        store.write_json(run_dir / "results.json", results)
        _write_reports(run, config, run_dir, ops, results, echo)
        return RunOutcome(failure.exit_code, run_dir, results, str(failure))

    echo(f"checking {len(ops)} events ({run.history.completions['ok']} ok, "
         f"{run.history.completions['fail']} fail, {run.history.completions['info']} info)...")
    results, summaries = check(run.plan.workload, ops, cfg, run.marks.get("final_phase_start"))
    reasons = [] if run.dispatcher is None else run.dispatcher.never_took_effect()
    if reasons:
        results["valid"] = merge_valid([results["valid"], UNKNOWN])
        run_info["unknown_reasons"] = reasons
    results["run"] = run_info
    if failure is not None:
        # The harness failed: whatever the partial history shows, the run has no verdict
        # of its own (it is exit 3). What the checkers made of the part that ran is kept.
        results["partial_valid"] = results["valid"]
        results["valid"] = UNKNOWN
        results["error"] = str(failure)
    store.write_json(run_dir / "results.json", results)
    _write_reports(run, config, run_dir, ops, results, echo)
    if failure is not None:
        what = "interrupted" if interrupted else "failed"
        return RunOutcome(failure.exit_code, run_dir, results,
                          f"run {what}: {failure}; partial history checked: "
                          f"{html_report.verdict_word(results['partial_valid'])}")
    line = summary_line(cfg.test_name, results, summaries)
    if reasons:
        line += "; " + "; ".join(reasons)
    return RunOutcome(exit_code_for(results["valid"]), run_dir, results, line)


def rerun_command(cfg: TestConfig, run_dir: Path) -> str:
    """The command that repeats this run (same options, same seed): the `harness test`
    command line it was started with plus its seed, or else `harness rerun RUN_DIR`."""
    import shlex
    argv = list(sys.argv[1:])
    if argv[:1] != ["test"]:
        return shlex.join(["harness", "rerun", str(run_dir)])
    if "--seed" not in argv:
        argv += ["--seed", str(cfg.seed)]
    return shlex.join(["harness", *argv])


def _write_reports(run: Run, config: dict, run_dir: Path, ops: list, results: dict,
                   echo) -> None:
    """junit.xml and report.html, for every run however it ended; a failure to write them
    is a warning (the verdict is in results.json), never a lost verdict."""
    from reports import html as html_report
    from reports import junit as junit_report

    cfg = run.cfg
    properties = {"seed": cfg.seed, "run_dir": str(run_dir), "rerun": rerun_command(cfg, run_dir),
                  "exit_code": exit_code_for(results.get("valid"))}
    wall = time.monotonic() - run.started
    try:
        junit_report.write(run_dir / "junit.xml", cfg.test_name, results, properties, wall)
        html_report.write(run_dir / "report.html", title=cfg.test_name, config=config,
                          history=ops, results=results)
    except Exception as e:   # noqa: BLE001 - keep the traceback in harness.log
        log.exception("writing the report failed")
        echo(f"warning: could not write the report ({type(e).__name__}: {e}); "
             f"results are in {run_dir / 'results.json'}", err=True)


def run_summary(run: Run) -> dict:
    """What the run did besides the workload: faults per nemesis, the cluster's health."""
    info: dict = {"run_id": run.run_id}
    if run.dispatcher is not None:
        info["nemeses"] = run.dispatcher.stats
    elif run.plan.nemeses:
        info["nemeses"] = {k: None for k in run.plan.nemeses}
    if run.monitor is not None:
        info["cluster"] = {"lost": run.monitor.lost, "events": run.monitor.events,
                           "health": run.monitor.samples}
    return info


def check(workload, history: list[dict], cfg: TestConfig,
          final_phase_start: int | None = None) -> tuple[dict, dict[str, str]]:
    """Every checker of the workload (check-safe), plus the stats check; returns the
    composed results and each checker's own summary line."""
    outcomes, summaries = {}, {}
    options = {"check_time_limit_s": cfg.check_time_limit}
    if cfg.consistency_models:
        options["consistency_models"] = list(cfg.consistency_models)
    checkers = dict(workload.checkers(options))
    checkers["stats"] = (StatsChecker(), {"final_phase_start": final_phase_start})
    for name, (checker, options) in checkers.items():
        outcomes[name] = check_safe(checker, history, options)
        summaries[name] = summarize(checker, outcomes[name])
        outcomes[name].setdefault("summary", summaries[name])
    return compose(outcomes), summaries


def summary_line(test_name: str, results: dict, summaries: dict[str, str]) -> str:
    from reports.html import verdict_word

    parts = []
    for name, summary in summaries.items():
        result = results[name]
        if name == "stats" and result.get("valid") is True:
            continue      # said only when it matters
        parts.append(f"{name}: {verdict_word(result['valid'])}"
                     + (f" ({summary})" if summary else ""))
    return f"{test_name}: {verdict_word(results['valid'])} - " + "; ".join(parts)


def _collect_logs(cluster, system, run_dir: Path) -> None:
    missing = []
    for node in cluster.nodes:
        for path in system.log_files(node):
            try:
                cluster.remote.download(node, path, str(run_dir / "nodes" / node))
            except Exception as e:
                log.warning("could not collect %s from %s: %s", path, node, e)
                missing.append(f"{node}:{path}")
    if missing:
        raise HarnessError(f"node logs not collected: {', '.join(missing)}")


def plugin_options(kind: str, name: str) -> list:
    """The declared options of a plugin (for `harness list` and help)."""
    return list(declared(registry.lookup(kind, name)))
