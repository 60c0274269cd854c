"""The command line: parses and dispatches only.

Errors from below are typed (harness.errors); here they become one line on stderr and
the exit code the brief fixes: 0 valid, 1 anomalies, 2 unknown, 3 harness failure,
4 usage or input error. No traceback reaches the user (harness.log keeps it).
"""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from .errors import (EXIT_HARNESS_FAILURE, EXIT_USAGE, EXIT_VALID, HarnessError, UsageError)


def _split_names(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
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


@cli.command("test")
@click.option("--system", required=True, help="System to test (e.g. raftkv).")
@click.option("--workload", help="Workload (default: the system's natural one).")
@click.option("--nemesis", "nemesis", default="", metavar="N[,N...]",
              help="Faults to inject: partition, kill, pause (comma-separated).")
@click.option("--nodes", type=int, default=5, show_default=True, help="Cluster size.")
@click.option("--concurrency", type=int, help="Client threads  [default: 2 x nodes]")
@click.option("--time-limit", type=float, default=60.0, show_default=True,
              help="Seconds of the main phase.")
@click.option("--rate", type=float, default=0.0, show_default=True,
              help="Target ops/s across all clients (0: as fast as the clients go).")
@click.option("--nemesis-interval", type=float, default=10.0, show_default=True,
              help="Seconds between fault start and heal (and heal and next fault).")
@click.option("--partition-shapes", metavar="S[,S...]",
              help="Partition shapes to choose from: halves, one, majorities-ring, bridge, "
                   "primaries  [default: all]")
@click.option("--process-targets", metavar="T[,T...]",
              help="Whom kill and pause hit, chosen per fault: one, minority, majority, all, "
                   "primaries  [default: one,minority,primaries]")
@click.option("--seed", type=int, help="Random seed (recorded in test.json).")
@click.option("--store", "store_dir", default="store", show_default=True,
              help="Where runs are stored.")
@click.option("--system-opt", "system_opts", multiple=True, metavar="OPT",
              help="System-specific option, repeatable (raftkv: unsafe-reads, no-fsync).")
@click.option("--check-time-limit", type=float, default=120.0, show_default=True,
              help="Seconds the checkers may take before answering unknown.")
@click.option("--deadline", type=float,
              help="Hard deadline of the whole run in seconds: past it the harness heals, "
                   "cleans up and exits 3  [default: time limit + 225]")
@click.option("--keep-cluster", is_flag=True, help="Leave the containers running afterwards.")
def test_cmd(system, workload, nemesis, nodes, concurrency, time_limit, rate, nemesis_interval,
             partition_shapes, process_targets, seed, store_dir, system_opts, check_time_limit,
             deadline, keep_cluster):
    """Deploy a cluster, run a workload under faults, check the history, write a report."""
    from .runner import TestConfig, run_test

    cfg = TestConfig(system=system, workload=workload, nemeses=_split_names(nemesis),
                     nodes=nodes, concurrency=concurrency, time_limit=time_limit, rate=rate,
                     nemesis_interval=nemesis_interval, seed=seed, store=store_dir,
                     system_opts=list(system_opts),
                     partition_shapes=_split_names(partition_shapes) or None,
                     process_targets=_split_names(process_targets) or None,
                     check_time_limit=check_time_limit, keep_cluster=keep_cluster,
                     deadline=deadline)
    outcome = run_test(cfg, echo=click.echo)
    click.echo(outcome.message, err=outcome.exit_code >= EXIT_HARNESS_FAILURE)
    if outcome.run_dir is not None:
        report = outcome.run_dir / "report.html"
        if report.exists():
            click.echo(f"report: {report}")
        click.echo(f"history: {outcome.run_dir / 'history.jsonl'}")
    sys.exit(outcome.exit_code)


@cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--checker", default="linearizable", show_default=True, help="Checker to run.")
@click.option("--model", help="Model for the linearizable checker: cas-register, register, kv, "
                              "set, fifo-queue, mutex, multi-register  [default: per format]")
@click.option("--format", "fmt", help="Input format: jsonl, json, edn, porcupine-etcd, "
                                      "porcupine-kv  [default: detected]")
@click.option("--time-limit", type=float, default=60.0, show_default=True,
              help="Seconds per file before the verdict is unknown.")
@click.option("--memory-limit", type=float, default=1024, show_default=True,
              help="MiB the search may use per key before the verdict is unknown.")
@click.option("--engine", type=click.Choice(["auto", "c", "python"]), default="auto",
              show_default=True, help="Search engine (c: the compiled core).")
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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write an HTML report of the (last) checked history here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write JUnit XML here: one test case per file.")
def check_cmd(files, checker, model, fmt, time_limit, memory_limit, engine, consistency_models,
              anomalies, assume, linearizable_set, negative_balances, total, as_json, report_path,
              junit_path):
    """Check stored histories; one result line per file. Exit: worst verdict."""
    from checkers import merge_valid
    from checkers.models import MODELS
    from reports.html import verdict_word

    from . import registry
    from .formats import load
    from .runner import exit_code_for

    from checkers.consistency import MODELS as CONSISTENCY_MODELS, canonical_model

    checker_obj = registry.lookup("checker", checker, "--checker")()
    if model is not None and model not in MODELS:
        raise UsageError(f"unknown --model {model!r}; valid: {', '.join(sorted(MODELS))}")
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
    verdicts = []
    per_file = {}
    show_progress = sys.stderr.isatty() and not as_json
    for path in files:
        loaded = load(path, fmt)

        def progress(done, total, path=path):
            if show_progress and total > 1:
                click.echo(f"\r{path}: {done}/{total} keys", nl=done == total, err=True)

        options = {"model": model, "time_limit_s": time_limit, "semantics": loaded.semantics,
                   "memory_limit": int(memory_limit * 2**20), "engine": engine,
                   "progress": progress, "consistency_models": list(consistency_models),
                   "anomalies": _split_names(anomalies), "linearizable": linearizable_set,
                   "negative_balances": negative_balances, "total": total,
                   **{a.replace("-", "_"): True for a in assumptions}}
        result = checker_obj.check(loaded.ops, options)
        verdicts.append(result["valid"])
        per_file[path] = result
        if as_json:
            click.echo(json.dumps({"file": path, "format": loaded.format, **result}, default=str))
        else:
            line = f"{path}: {verdict_word(result['valid'])}"
            if "partitions" in result:
                line += f" ({result.get('ops', '?')} ops, {result['partitions']} keys, " \
                        f"{result.get('elapsed_s', 0):.3f}s)"
            elif "txns" in result:
                line += f" ({result['txns']} txns, {result.get('elapsed_s', 0):.3f}s)"
            if result.get("anomaly-types"):
                line += f" - anomalies: {', '.join(result['anomaly-types'])}"
            if result.get("not"):
                line += f"; not {', '.join(result['not'])}"
            if result.get("failures"):
                first = result["failures"][0]
                key = "" if first.get("key") is None else f"key {first['key']}: "
                line += f" - {key}{first.get('message', '')}"
            if result.get("unknown_reason"):
                line += f" - {result['unknown_reason']}"
            click.echo(line)
        if report_path:
            from reports import html
            html.write(report_path, title=os.path.basename(path),
                       config={"file": path, "format": loaded.format, "checker": checker},
                       history=loaded.ops, results={"valid": result["valid"], checker: result})
    if junit_path:
        from reports import junit
        junit.write(junit_path, f"harness check --checker {checker}", per_file)
    sys.exit(exit_code_for(merge_valid(verdicts)))


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
def clean_cmd(run_id):
    """Remove the containers and networks the harness created (by label), nothing else."""
    from .control.docker import RUN, connect, remove_by_label

    client = connect()
    containers, networks = remove_by_label(client, {RUN: run_id} if run_id else {})
    click.echo(f"removed {containers} container(s) and {networks} network(s)")


def main(argv=None) -> None:
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
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
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except HarnessError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_HARNESS_FAILURE)
    except BrokenPipeError:
        sys.exit(EXIT_VALID)


if __name__ == "__main__":
    main()
