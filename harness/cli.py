"""The command line: parses and dispatches only.

Errors from below are typed (harness.errors); here they become one line on stderr and
the exit code the brief fixes: 0 valid, 1 anomalies, 2 unknown, 3 harness failure,
4 usage or input error. No traceback reaches the user (harness.log keeps it).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import sys
import time
import traceback

import click

from .errors import (EXIT_HARNESS_FAILURE, EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_VALID,
                     HarnessError, Interrupted, UsageError)


def _complete(kind: str):
    """Shell completion of plugin names from the registry (`_HARNESS_COMPLETE=bash_source
    harness` prints the bash hook)."""
    def complete(ctx, param, incomplete):
        from . import registry
        return [n for n in registry.names(kind) if n.startswith(incomplete)]
    return complete


def _complete_nemeses(ctx, param, incomplete):
    from . import registry
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + n for n in registry.names("nemesis") if n.startswith(last)]


def _split_names(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="harness", prog_name="harness")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def cli(verbose: bool, debug: bool) -> None:
    """harness: Jepsen-style fault-injection tests for distributed databases.

    \b
    harness test --system raftkv --nemesis partition
    harness check store/latest/history.jsonl
    harness clean
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # The runner's own outcome is echoed by the CLI; its log lines go to harness.log.
        handler.addFilter(lambda record: record.name != "harness")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if debug:
        os.environ["HARNESS_DEBUG"] = "1"


def _plugin_flags() -> dict[str, list[tuple[str, str, object]]]:
    """Dedicated `harness test` flags that plugins declare (Option.flag), e.g. the
    partition nemesis's --partition-shapes: flag -> [(kind, plugin, option)]."""
    from . import registry
    from .options import declared

    flags: dict[str, list] = {}
    for kind in ("system", "workload", "nemesis"):
        for name, cls in registry.plugins(kind).items():
            for option in declared(cls):
                if option.flag:
                    flags.setdefault(option.flag, []).append((kind, name, option))
    return flags


def _plugin_help() -> str:
    from . import registry
    from .options import declared

    lines = ["\b", "Plugins and their options (set with --system-opt NAME[=VALUE], "
             "--workload-opt NAME=VALUE, --nemesis-opt NEMESIS.NAME=VALUE; `harness list`):"]
    for kind in ("system", "workload", "nemesis"):
        for name, cls in registry.plugins(kind).items():
            options = ", ".join(f"{o.name}" for o in declared(cls)) or "no options"
            lines.append(f"  {kind} {name}: {options}")
    return "\n".join(lines)


def _plugin_flag_options() -> list:
    """The click options for the flags plugins declare (see `_plugin_flags`)."""
    options = []
    for flag, users in sorted(_plugin_flags().items()):
        kind, name, option = users[0]
        who = ", ".join(sorted({n for _, n, _ in users}))
        default = option.default if not isinstance(option.default, (list, tuple)) \
            else ",".join(map(str, option.default))
        options.append(click.Option(
            [flag, "plugin_flag_" + flag.lstrip("-").replace("-", "_")], metavar="V[,V...]"
            if option.type == "list" else "VALUE",
            help=f"{option.help} ({kind} {who}: {kind}-opt {option.name})  "
                 f"[default: {default}]"))
    return options


class _PluginFlagsCommand(click.Command):
    """`harness test`: its plugin-declared flags and its epilog (the plugins and their
    options) are added when the command is first used, not when the CLI is imported.
    Both need every system, workload and nemesis imported (0.3 s of psycopg and the
    like), which `harness check` and the other commands must not pay for."""

    _plugins_added = False

    @property
    def params(self) -> list:
        if not self._plugins_added:
            self._plugins_added = True
            self._params.extend(_plugin_flag_options())
        return self._params

    @params.setter
    def params(self, value) -> None:
        self._params = value

    @property
    def epilog(self) -> str | None:
        if self._epilog is None:
            self._epilog = _plugin_help()
        return self._epilog

    @epilog.setter
    def epilog(self, value) -> None:
        self._epilog = value


def _ssh_options(command):
    """The flags that say how to reach and trust SSH hosts (`test --backend ssh`, `clean
    --hosts`). Host-key opt-ins are explicit and recorded in the run's test.json."""
    for decorator in reversed((
        click.option("--hosts", "hosts_file", type=click.Path(dir_okay=False),
                     help="SSH backend: file of hosts, one `[user@]host[:port] [key=PATH]` "
                          "a line (node n1 is the first line)."),
        click.option("--host", "host_list", multiple=True, metavar="[USER@]HOST[:PORT]",
                     help="SSH backend: a host, repeatable (instead of --hosts)."),
        click.option("--ssh-key", type=click.Path(dir_okay=False),
                     help="SSH backend: private key for hosts without key= (default: "
                          "ssh-agent, then ~/.ssh/id_*)."),
        click.option("--ssh-user", help="SSH backend: login user for hosts without user@ "
                                        "[default: root]"),
        click.option("--sudo", is_flag=True,
                     help="SSH backend: run commands through passwordless `sudo -n` "
                          "(for a non-root login user)."),
        click.option("--known-hosts", type=click.Path(dir_okay=False),
                     help="SSH backend: known_hosts file to verify host keys against "
                          "[default: ~/.ssh/known_hosts]"),
        click.option("--accept-new-host-keys", is_flag=True,
                     help="SSH backend: trust unknown host keys on first use (added to "
                          "known_hosts; a changed key is still refused)."),
        click.option("--insecure-no-host-key-check", is_flag=True,
                     help="SSH backend: do not verify host keys at all (recorded in "
                          "test.json; only for throwaway test hosts)."),
    )):
        command = decorator(command)
    return command


def _host_lines(hosts_file, host_list, ssh_user, ssh_key) -> list[str]:
    """The hosts as `user@host:port [key=PATH]` lines (what test.json records)."""
    from .control.hosts import parse_host, read_hosts_file

    if hosts_file and host_list:
        raise UsageError("give the hosts with --hosts FILE or with --host, not both")
    if hosts_file:
        specs = read_hosts_file(hosts_file, ssh_user, ssh_key)
    else:
        specs = [parse_host(h, ssh_user, ssh_key) for h in host_list]
    return [spec.spec() for spec in specs]


def _assignments(values, flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        name, eq, value = item.partition("=")
        if not name.strip():
            raise UsageError(f"{flag} {item!r}: expected NAME[=VALUE]")
        out[name.strip()] = value if eq else "true"
    return out


@cli.command("test", cls=_PluginFlagsCommand)
@click.option("--system", required=True, shell_complete=_complete("system"),
              help="System to test (`harness list system`: raftkv, etcd, ...).")
@click.option("--workload", shell_complete=_complete("workload"),
              help="Workload (default: the system's natural one; `harness list workload`).")
@click.option("--nemesis", "nemesis", default="", metavar="N[,N...]",
              shell_complete=_complete_nemeses,
              help="Faults to inject, comma-separated (see `harness list nemesis`).")
@click.option("--nodes", type=int, default=5, show_default=True,
              help="Cluster size (1 to 15).")
@click.option("--concurrency", metavar="N|Kn",
              help="Client threads: a number, or Kn for K per node (Jepsen's `2n`)  "
                   "[default: 2n]")
@click.option("--time-limit", type=float, default=60.0, show_default=True,
              help="Seconds of the main phase.")
@click.option("--rate", type=float, default=0.0, show_default=True,
              help="Target ops/s across all clients (0: as fast as the clients go).")
@click.option("--nemesis-interval", type=float, default=None,
              help="Seconds between fault start and heal (and heal and next fault) "
                   "[default: the system's own (see `harness list system`), else 10].")
@click.option("--nemesis-overlap", is_flag=True,
              help="With two nemeses or more, let faults of two kinds nest (start A, start "
                   "B, heal B, heal A, each half an interval apart), as Jepsen's combined "
                   "packages do; default: one fault at a time.")
@click.option("--seed", type=int, help="Random seed (recorded in test.json).")
@click.option("--store", "store_dir", default="store", show_default=True,
              help="Where runs are stored.")
@click.option("--system-opt", "system_opts", multiple=True, metavar="NAME[=VALUE]",
              help="System option, repeatable (see `harness list system`).")
@click.option("--workload-opt", "workload_opts", multiple=True, metavar="NAME=VALUE",
              help="Workload option, repeatable (e.g. live-keys=8).")
@click.option("--nemesis-opt", "nemesis_opts", multiple=True, metavar="NEMESIS.NAME=VALUE",
              help="Nemesis option, repeatable (e.g. partition.shapes=halves,one).")
@click.option("--check-time-limit", type=float, default=120.0, show_default=True,
              help="Seconds the checkers may take before answering unknown.")
@click.option("--consistency-model", "consistency_models", multiple=True, metavar="M",
              help="For transactional workloads: the model to check, repeatable (read-"
                   "uncommitted ... strict-serializable); the exit code follows the models "
                   "asked for  [default: strict-serializable]")
@click.option("--deadline", type=float,
              help="Hard deadline of the whole run in seconds: past it the harness heals, "
                   "cleans up and exits 3  [default: time limit + 225]")
@click.option("--node-memory", type=int, default=1024, show_default=True, metavar="MIB",
              help="Memory limit of each node container (MiB).")
@click.option("--node-pids", type=int, default=2048, show_default=True,
              help="Process limit of each node container.")
@click.option("--keep-cluster", is_flag=True, help="Leave the containers running afterwards.")
@click.option("--backend", type=click.Choice(["docker", "ssh"]), default="docker",
              show_default=True,
              help="Where the nodes are: containers here, or existing hosts over SSH "
                   "(docs/ssh.md).")
@_ssh_options
@click.option("--test-count", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Repeat the test up to this many times, stopping at the first run that is "
                   "not valid (each with a new seed unless --seed is given).")
def test_cmd(system, workload, nemesis, nodes, concurrency, time_limit, rate, nemesis_interval,
             nemesis_overlap, seed, store_dir, system_opts, workload_opts, nemesis_opts, check_time_limit,
             consistency_models, deadline, node_memory, node_pids, keep_cluster, test_count,
             backend, hosts_file, host_list, ssh_key, ssh_user, sudo, known_hosts,
             accept_new_host_keys, insecure_no_host_key_check, **plugin_flags):
    """Deploy a cluster, run a workload under faults, check the history, write a report."""
    from .options import parse_assignments
    from .runner import TestConfig

    nemeses = _split_names(nemesis)
    hosts = _host_lines(hosts_file, host_list, ssh_user, ssh_key) \
        if (hosts_file or host_list) else []
    nodes_given = click.get_current_context().get_parameter_source("nodes") \
        == click.core.ParameterSource.COMMANDLINE
    if backend == "ssh" and hosts and not nodes_given:
        nodes = len(hosts)          # the cluster is the hosts
    concurrency = _concurrency(concurrency, nodes)
    per_nemesis = parse_assignments(list(nemesis_opts), "--nemesis-opt")
    cfg = TestConfig(system=system, workload=workload, nemeses=nemeses,
                     nodes=nodes, concurrency=concurrency, time_limit=time_limit, rate=rate,
                     nemesis_interval=nemesis_interval, nemesis_overlap=nemesis_overlap,
                     seed=seed, store=store_dir,
                     system_opts=_assignments(system_opts, "--system-opt"),
                     workload_opts=_assignments(workload_opts, "--workload-opt"),
                     nemesis_opts=per_nemesis, check_time_limit=check_time_limit,
                     consistency_models=list(consistency_models), node_memory_mb=node_memory, node_pids=node_pids,
                     keep_cluster=keep_cluster, deadline=deadline, backend=backend,
                     hosts=hosts, ssh_key=ssh_key, ssh_user=ssh_user, sudo=sudo,
                     known_hosts=known_hosts, accept_new_host_keys=accept_new_host_keys,
                     insecure_no_host_key_check=insecure_no_host_key_check)
    _apply_plugin_flags(cfg, plugin_flags)
    code = EXIT_VALID
    for attempt in range(1, test_count + 1):
        if test_count > 1:
            click.echo(f"run {attempt} of at most {test_count}")
            if attempt > 1 and seed is None:
                cfg.seed = None          # a fresh seed for each repetition
        code = _run_and_report(cfg)
        if code != EXIT_VALID:
            break
    sys.exit(code)


def _run_and_report(cfg) -> int:
    from .runner import run_test

    outcome = run_test(cfg, echo=click.echo)
    click.echo(outcome.message, err=outcome.exit_code >= EXIT_HARNESS_FAILURE)
    if outcome.results is not None and outcome.exit_code == EXIT_INVALID:
        from reports.text import first_counterexample
        for line in first_counterexample(outcome.results):
            click.echo(f"  {line}")
    if outcome.run_dir is not None:
        from .runner import rerun_command
        report = outcome.run_dir / "report.html"
        if report.exists():
            click.echo(f"report: {report}")
        click.echo(f"history: {outcome.run_dir / 'history.jsonl'}")
        click.echo(f"seed {cfg.seed}; rerun: {rerun_command(cfg, outcome.run_dir)}")
    if cfg.keep_cluster and outcome.results is not None:
        run_id = (outcome.results.get("run") or {}).get("run_id")
        if run_id and cfg.backend == "ssh":
            click.echo("cluster kept: undo it with `harness clean --hosts FILE --all`")
        elif run_id:
            click.echo(f"cluster kept: remove it with `harness clean --run {run_id} --all`")
    return outcome.exit_code


@cli.command("runs")
@click.option("--store", "store_dir", default="store", show_default=True)
def runs_cmd(store_dir):
    """List the runs in a store: start, test, verdict, duration, seed, folder."""
    from .runs import list_runs

    for run in list_runs(store_dir):
        duration = f"{run.duration_s:.0f}s" if run.duration_s is not None else "-"
        click.echo(f"{run.path.name}  {run.verdict:<9} {duration:>6}  seed {run.seed}  "
                   f"{run.test}  {run.path}")


@cli.command("rerun")
@click.argument("run_ref", metavar="RUN")
@click.option("--store", "store_dir", default="store", show_default=True)
def rerun_cmd(run_ref, store_dir):
    """Run a test again from a run's test.json: same options, same seed (RUN: its folder,
    `latest`, or its timestamp)."""
    from .runner import TestConfig
    from .runs import config_of, find_run

    run = find_run(store_dir, run_ref)
    cfg = config_of(run, TestConfig)
    cfg.store = store_dir
    click.echo(f"rerunning {run.test} from {run.path} (seed {cfg.seed})")
    sys.exit(_run_and_report(cfg))


@cli.command("serve")
@click.option("--store", "store_dir", default="store", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback: only this machine).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def serve_cmd(store_dir, host, port):
    """Browse the runs of a store in a web browser (their reports and files)."""
    from .runs import list_runs
    from .serve import make_server

    list_runs(store_dir)            # a missing store is a usage error, before listening
    try:
        server = make_server(store_dir, host, port)
    except OSError as e:
        raise UsageError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror})") from None
    click.echo(f"serving {store_dir} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _concurrency(text: str | None, nodes: int) -> int | None:
    """`10` -> 10; `2n` -> 2 x nodes (Jepsen's notation)."""
    if text is None:
        return None
    raw = text.strip().lower()
    try:
        if raw.endswith("n"):
            return int(raw[:-1] or "1") * nodes
        return int(raw)
    except ValueError:
        raise UsageError(f"--concurrency {text!r}: expected a number or Kn (e.g. 2n)") from None


def _apply_plugin_flags(cfg, given: dict) -> None:
    """Route each dedicated plugin flag to the selected plugins that declare it (an
    explicit --*-opt for the same option wins). A flag no selected plugin takes is an
    error: it would otherwise be silently ignored."""
    for flag, users in _plugin_flags().items():
        raw = given.get("plugin_flag_" + flag.lstrip("-").replace("-", "_"))
        if raw is None:
            continue
        applied = False
        for kind, name, option in users:
            if kind == "nemesis" and name in cfg.nemeses:
                cfg.nemesis_opts.setdefault(name, {}).setdefault(option.name, raw)
                applied = True
            elif kind == "system" and name == cfg.system:
                cfg.system_opts.setdefault(option.name, raw)
                applied = True
            elif kind == "workload" and name == cfg.workload:
                cfg.workload_opts.setdefault(option.name, raw)
                applied = True
        if not applied:
            takers = ", ".join(sorted({f"{k} {n}" for k, n, _ in users}))
            raise UsageError(f"{flag} applies to {takers}, none of which this test uses")


@cli.command("list")
@click.argument("kind", required=False,
                type=click.Choice(["system", "workload", "nemesis", "checker"]))
def list_cmd(kind):
    """List the plugins (systems, workloads, nemeses, checkers) and their options."""
    from . import registry
    from .options import declared

    for k in ([kind] if kind else ["system", "workload", "nemesis", "checker"]):
        for name, cls in registry.plugins(k).items():
            extra = []
            if getattr(cls, "capabilities", None):
                extra.append("capabilities: " + ", ".join(sorted(cls.capabilities)))
            if getattr(cls, "requires", None):
                extra.append("requires: " + ", ".join(sorted(cls.requires)))
            if getattr(cls, "workloads", None):
                extra.append("workloads: " + ", ".join(cls.workloads))
            if getattr(cls, "default_nemesis_interval", None):
                extra.append(f"default --nemesis-interval {cls.default_nemesis_interval:g}s")
            paragraph = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
            doc = paragraph.split(". ")[0].rstrip(".")
            click.echo(f"{k} {name}" + (f" - {doc}" if doc else "")
                       + (f" ({'; '.join(extra)})" if extra else ""))
            for option in declared(cls):
                click.echo(f"    {option.describe()}")


@cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--checker", default="linearizable", show_default=True,
              shell_complete=_complete("checker"),
              help="Checker to run (`harness list checker`).")
@click.option("--model", help="Model for the linearizable checker: cas-register, register, kv, "
                              "set, fifo-queue, mutex, multi-register  [default: per format]")
@click.option("--init", "init_json", metavar="JSON",
              help="For linearizable: the model's initial state, as JSON (e.g. 0, "
                   "'{\"x\": 0, \"y\": 0}')  [default: per format]")
@click.option("--format", "fmt", help="Input format: jsonl, json, edn, porcupine-etcd, "
                                      "porcupine-kv  [default: detected]")
@click.option("--time-limit", type=float, default=60.0, show_default=True,
              help="Seconds per file before the verdict is unknown.")
@click.option("--memory-limit", type=float, default=1024, show_default=True,
              help="MiB the search may use per key before the verdict is unknown.")
@click.option("--engine", type=click.Choice(["auto", "c", "python"]), default="auto",
              show_default=True, help="Search engine (c: the compiled core).")
@click.option("--jobs", type=click.IntRange(min=1),
              help="For linearizable: threads searching keys in parallel  [default: the cores]")
@click.option("--consistency-model", "consistency_models", multiple=True, metavar="M",
              help="For elle-*: the model to check, repeatable (read-uncommitted ... "
                   "strict-serializable)  [default: strict-serializable]")
@click.option("--anomalies", metavar="A[,A...]", help="For elle-*: also look for these anomalies.")
@click.option("--assume", metavar="A[,A...]",
              help="For elle-rw-register: version-order assumptions: wfr-keys, "
                   "sequential-keys, linearizable-keys.")
@click.option("--linearizable-set", is_flag=True, help="For set-full: stale reads are errors.")
@click.option("--negative-balances", is_flag=True, help="For bank: allow negative balances.")
@click.option("--total", type=int, help="For bank: the total (default: the first read's sum).")
@click.option("--accounts", metavar="A[,A...]",
              help="For bank: the accounts that exist (default: those of the first read).")
@click.option("--checker-opt", "checker_opts", multiple=True, metavar="NAME=VALUE",
              help="Any option the checker declares (`harness list checker`), repeatable.")
@click.option("--max-input-mb", type=float, default=2048, show_default=True,
              help="Refuse input files larger than this (MiB).")
@click.option("--allow-special-files", is_flag=True,
              help="Read FIFOs and devices too (bounded by --time-limit and --max-input-mb).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write an HTML report of the checked history here; with several files, "
                   "one report each: FILE-1.html, FILE-2.html, ... in the order given.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write JUnit XML here: one test case per file.")
def check_cmd(files, checker, model, init_json, fmt, time_limit, memory_limit, engine, jobs,
              consistency_models, anomalies, assume, linearizable_set, negative_balances, total,
              accounts, checker_opts, max_input_mb, allow_special_files, as_json, report_path,
              junit_path):
    """Check stored histories; one result line per file. Exit: worst verdict."""
    # Only what checking needs is imported here (start-up counts in every check's wall
    # clock): not the runner, the HTML report (jinja2) or another checker's models.
    from checkers import MalformedOp, check_safe, merge_valid, summarize
    from checkers.consistency import MODELS as CONSISTENCY_MODELS, canonical_model

    from . import registry
    from .errors import InputError
    from .formats import ReadTimeLimit, load
    from .options import resolve_values

    checker_cls = registry.lookup("checker", checker, "--checker")
    checker_obj = checker_cls()
    for flag, value in (("--time-limit", time_limit), ("--memory-limit", memory_limit),
                        ("--max-input-mb", max_input_mb)):
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"{flag} must be a positive finite number, got {value}")
    if model is not None and model not in _linearizable_models():
        raise UsageError(f"unknown --model {model!r}; valid: "
                         f"{', '.join(sorted(_linearizable_models()))}")
    if engine == "c":
        from checkers.linearizable import compiled_core_available
        if not compiled_core_available():
            raise UsageError("--engine c: the compiled core (checkers/_wgl.c) is not built "
                             "here; reinstall with a C compiler, or use --engine python")
    for m in consistency_models:
        try:
            canonical_model(m)
        except KeyError:
            raise UsageError(f"unknown --consistency-model {m!r}; valid: "
                             f"{', '.join(CONSISTENCY_MODELS)}") from None
    assumptions = _split_names(assume)
    bad = [a for a in assumptions if a not in ("wfr-keys", "sequential-keys", "linearizable-keys")]
    if bad:
        raise UsageError(f"unknown --assume {', '.join(bad)}; valid: wfr-keys, sequential-keys, "
                         "linearizable-keys")
    for flag, target in (("--report", report_path), ("--junit", junit_path)):
        if target:
            _writable_path(flag, target)
    init = None
    if init_json is not None:
        try:
            init = json.loads(init_json)
        except ValueError as e:
            raise UsageError(f"--init {init_json!r} is not valid JSON ({e})") from None
    extra = resolve_values(checker_cls, checker, _assignments(checker_opts, "--checker-opt"),
                           "--checker-opt") if checker_opts else {}
    verdicts = []
    per_file = {}
    show_progress = sys.stderr.isatty() and not as_json
    for path in files:
        started = time.monotonic()
        try:
            loaded = load(path, fmt, time_limit_s=time_limit,
                          max_bytes=int(max_input_mb * 2**20),
                          allow_special=allow_special_files)
        except ReadTimeLimit as e:    # reading alone used the time: no verdict for this file
            result = {"valid": "unknown", "unknown_reason": str(e)}
            verdicts.append(result["valid"])
            per_file[path] = result
            click.echo(json.dumps({"file": path, **result}) if as_json
                       else f"{path}: unknown ({e})")
            continue
        # The loaded ops live until the file is checked and hold no cycles: out of the
        # collector's reach, or its first pass after loading walks every one of them
        # (about 1 s for 100k list-append transactions). Refcounting still frees them.
        gc.freeze()
        loaded_at = time.monotonic()
        remaining = max(0.001, time_limit - (loaded_at - started))

        def progress(done, total, path=path):
            if show_progress and total > 1:
                click.echo(f"\r{path}: {done}/{total} keys", nl=done == total, err=True)

        options = {"model": model, "time_limit_s": remaining,
                   "semantics": loaded.semantics.for_model(model),
                   "memory_limit": int(memory_limit * 2**20), "engine": engine,
                   "progress": progress, "consistency_models": list(consistency_models),
                   "anomalies": _split_names(anomalies), "linearizable": linearizable_set,
                   "negative_balances": negative_balances, "total": total,
                   **({"init": init} if init is not None else {}),
                   **({"jobs": jobs} if jobs is not None else {}),
                   **({"accounts": _accounts(accounts)} if accounts else {}),
                   **{a.replace("-", "_"): True for a in assumptions}, **extra}
        try:
            result = check_safe(checker_obj, loaded.ops, options)
        except MalformedOp as e:
            line_of = getattr(loaded, "line_of", None)
            raise InputError(path, line_of(e.op) if line_of else None,
                             f"{e.what} (op {_brief(e.op)})") from None
        # Where the time went: reading the file, and checking it (the checker's own
        # elapsed_s counts only its search, not its reading of the history).
        result = {**result, "load_s": round(loaded_at - started, 4),
                  "check_s": round(time.monotonic() - loaded_at, 4)}
        verdicts.append(result["valid"])
        per_file[path] = result
        summary = summarize(checker_obj, result)
        if as_json:
            click.echo(json.dumps({"file": path, "format": loaded.format, **result}, default=str))
        else:
            click.echo(f"{path}: {_verdict_word(result['valid'])}"
                       + (f" ({summary})" if summary else ""))
        if report_path:
            from reports import html
            target = report_path if len(files) == 1 else _numbered(report_path, len(per_file))
            _write_output("--report", target, lambda: html.write(
                target, title=os.path.basename(path),
                config={"file": path, "format": loaded.format, "checker": checker},
                history=loaded.ops,
                results={"valid": result["valid"], checker: {**result, "summary": summary}}))
    if junit_path:
        from reports import junit
        _write_output("--junit", junit_path, lambda: junit.write(
            junit_path, f"harness check --checker {checker}", per_file))
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = True
    sys.exit(_exit_code_for(merge_valid(verdicts)))


# Set by `check` once its outputs are written: `main`, run as the program, then ends the
# process without the interpreter's teardown, which frees every op of the history one by
# one (0.2-0.4 s of a 3 s check of 100k transactions). Only `check`, which holds nothing
# to clean up: the commands that create containers keep their exit handlers.
_SKIP_TEARDOWN = False


def _exit_now(code) -> None:
    """Exit with `code` (a SystemExit's) after flushing what was written, without the
    interpreter's teardown."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    except Exception:  # noqa: BLE001 - a closed pipe: exit all the same
        pass
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _linearizable_models():
    from checkers.models import MODELS
    return MODELS


def _verdict_word(valid) -> str:
    """reports.html.verdict_word, without importing the report's templates."""
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def _exit_code_for(valid) -> int:
    """harness.runner.exit_code_for, without importing the runner."""
    return EXIT_VALID if valid is True else EXIT_INVALID if valid is False else EXIT_UNKNOWN


def _numbered(path: str, n: int) -> str:
    """FILE.html -> FILE-n.html: the report of the n-th of several checked files."""
    stem, ext = os.path.splitext(path)
    return f"{stem}-{n}{ext or '.html'}"


def _writable_path(flag: str, path: str) -> None:
    """A file the user asked us to write must be writable before we spend time checking."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} is not writable")


def _write_output(flag: str, path: str, write) -> None:
    try:
        write()
    except OSError as e:
        raise HarnessError(f"{flag} {path}: could not write it ({e.strerror or e})") from None


def _accounts(text: str) -> list:
    """Account ids as typed: integers where they look like integers."""
    return [int(a) if a.lstrip("-").isdigit() else a for a in _split_names(text)]


def _brief(op: dict) -> str:
    text = json.dumps(op, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@cli.group("image")
def image_group():
    """Build or inspect the node image (built offline with debootstrap)."""


@image_group.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
def image_build(force):
    """Build the node image unless one for the current recipe exists."""
    from . import image
    from .control.docker import connect

    logging.getLogger("harness.image").setLevel(logging.INFO)
    client = connect()
    status = image.status(client)
    if status.exists and not force:
        click.echo(f"{status.tag} is up to date")
        return
    click.echo(f"building {status.tag} (debootstrap, about 2 minutes)...")
    click.echo(f"built {image.build(client, force=force)}")


@image_group.command("status")
def image_status():
    """Say whether the node image for the current recipe exists."""
    from . import image
    from .control.docker import connect

    status = image.status(connect())
    click.echo(f"{status.tag}: {'present' if status.exists else 'missing (harness image build)'}")
    sys.exit(EXIT_VALID if status.exists else EXIT_HARNESS_FAILURE)


@image_group.command("dockerfile")
def image_dockerfile():
    """Print the same recipe as a Dockerfile (for hosts that can pull debian:bookworm)."""
    from . import image

    click.echo(image.dockerfile(), nl=False)


@cli.command("clean")
@click.option("--run", "run_id", help="Only this run's containers and network.")
@click.option("--all", "include_live", is_flag=True,
              help="Also runs whose controller is still going (they will fail).")
@_ssh_options
def clean_cmd(run_id, include_live, hosts_file, host_list, ssh_key, ssh_user, sudo,
              known_hosts, accept_new_host_keys, insecure_no_host_key_check):
    """Remove the containers and networks of harness runs that are no longer alive (by
    label; a run whose controller process still runs is left alone unless --all).

    With --hosts FILE (or --host): undo on those SSH hosts what a run left there (its
    processes, firewall chains, data folders: what the run's manifest on each host says)."""
    from .control.docker import RUN, connect, remove_by_label

    if hosts_file or host_list:
        _clean_hosts(_host_lines(hosts_file, host_list, ssh_user, ssh_key), run_id,
                     include_live, ssh_key=ssh_key, sudo=sudo, known_hosts=known_hosts,
                     accept_new_host_keys=accept_new_host_keys,
                     insecure_no_host_key_check=insecure_no_host_key_check)
        return
    client = connect()
    containers, networks = remove_by_label(client, {RUN: run_id} if run_id else {},
                                           include_live=include_live)
    click.echo(f"removed {containers} container(s) and {networks} network(s)")


def _clean_hosts(hosts: list[str], run_id, include_live, **ssh) -> None:
    from . import registry
    from .control.hosts import check_distinct, parse_host
    from .control.ssh_backend import SshBackend, clean_hosts
    from .options import build

    specs = [parse_host(h) for h in hosts]
    check_distinct(specs)

    def build_system(ref):
        cls = registry.lookup("system", ref["name"])
        return build(cls, ref["name"], ref.get("options") or {}, "--system-opt")

    cleaned, errors = clean_hosts(SshBackend(specs, **ssh), include_live=include_live,
                                  run_id=run_id, build_system=build_system)
    click.echo(f"cleaned {cleaned} of {len(specs)} host(s)")
    if errors:
        raise HarnessError("could not undo everything: " + "; ".join(errors))


def _on_sigterm(signum, frame):
    """SIGTERM outside a run (a run handles its own signals, and cleans up first)."""
    raise Interrupted("interrupted by SIGTERM")


GLOBAL_FLAGS = ("-v", "--verbose", "--debug")


def hoist_global_flags(args: list[str]) -> list[str]:
    """`-v`, `--verbose` and `--debug` anywhere on the command line (`harness test ... -v`),
    not only before the subcommand, where click wants the group's options. Everything
    after `--` is left alone."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    flags = [a for a in head if a in GLOBAL_FLAGS]
    return flags + [a for a in head if a not in GLOBAL_FLAGS] + tail


def main(argv=None) -> None:
    """The program (`harness ...`, argv None: the command line's), or a caller's command
    (`main([...])`, as tests do: it ends in SystemExit, never in the process's end)."""
    try:
        _main(argv)
    except SystemExit as e:
        if _SKIP_TEARDOWN and argv is None:
            _exit_now(e.code)
        raise


def _main(argv) -> None:
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(args=hoist_global_flags(sys.argv[1:] if argv is None else list(argv)),
                 prog_name="harness", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(EXIT_VALID)
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:      # click's name for a KeyboardInterrupt
        click.echo("interrupted by SIGINT", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except HarnessError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted by SIGINT", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except Interrupted as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except BrokenPipeError:
        sys.exit(EXIT_VALID)
    except MemoryError:
        click.echo("error: out of memory", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, exit 3, never a verdict
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        first = (str(e).strip().splitlines() or [""])[0][:300]
        click.echo(f"internal error: {type(e).__name__}: {first} (rerun with "
                   "`harness --debug ...` for the traceback)", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)


if __name__ == "__main__":
    main()
