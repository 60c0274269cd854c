"""resolve(): every refusal happens before anything starts (no Docker needed here)."""

import math

import pytest

from harness.errors import UsageError
from harness.runner import TestConfig, resolve


def cfg(**kw):
    return TestConfig(system="raftkv", **kw)


@pytest.mark.parametrize("kw, needle", [
    (dict(nodes=2, nemeses=["kill"], nemesis_opts={"kill": {"targets": "minority"}}),
     "a minority of 2 node(s) is nobody"),
    (dict(nemeses=["partition"], nemesis_interval=100, time_limit=5), "leaves no room"),
    (dict(nemeses=["partition", "kill", "pause"], nemesis_interval=10, time_limit=40),
     "every one of partition, kill, pause"),
    (dict(time_limit=math.nan), "--time-limit must be a finite number"),
    (dict(time_limit=math.inf), "--time-limit must be a finite number"),
    (dict(time_limit=1e9), "--time-limit must be at most"),
    (dict(time_limit=-1), "--time-limit must be positive"),
    (dict(rate=math.nan), "--rate must be a finite number"),
    (dict(rate=-5), "--rate must be at least 0"),
    (dict(nodes=300), "--nodes must be at most 15"),
    (dict(nodes=0), "--nodes must be at least 1"),
    (dict(concurrency=0), "--concurrency must be at least 1"),
    (dict(deadline=math.nan), "--deadline must be a finite number"),
    (dict(nemeses=["partition"], nemesis_opts={"kill": {"targets": "all"}}),
     "--nemesis-opt for kill, which is not among --nemesis partition"),
    (dict(nemeses=["partition", "partition"]), "names a fault twice"),
    (dict(system_opts={"unsafe-reads": "perhaps"}), "--system-opt unsafe-reads"),
    (dict(workload_opts={"live-keys": "0"}), "--workload-opt live-keys: must be at least 1"),
])
def test_impossible_or_malformed_runs_are_refused(kw, needle):
    with pytest.raises(UsageError) as e:
        resolve(cfg(**kw))
    assert needle in str(e.value)


def test_a_nemesis_needing_a_capability_the_system_lacks_is_refused(monkeypatch):
    from clusters.raftkv import RaftKV
    monkeypatch.setattr(RaftKV, "capabilities", frozenset({"primaries"}))
    with pytest.raises(UsageError, match="--nemesis kill needs kill, which raftkv does not support"):
        resolve(cfg(nemeses=["kill"]))


def test_a_feasible_run_resolves_with_typed_plugin_options():
    c = cfg(nemeses=["partition", "kill"], nemesis_opts={"partition": {"shapes": "halves"},
                                                         "kill": {"targets": "all"}},
            system_opts={"unsafe-reads": "true"})
    plan = resolve(c)
    assert plan.nemeses["partition"].shapes == ("halves",)
    assert plan.nemeses["kill"].targets == ("all",)
    assert plan.system.flags == ("unsafe-reads",)
    assert c.concurrency == 10 and c.seed is not None
    assert c.test_name == "raftkv-unsafe-reads-register-partition+kill"


def test_consistency_models_are_for_transactional_workloads_and_must_exist(monkeypatch):
    from clusters.raftkv import RaftKV
    with pytest.raises(UsageError, match="applies to transactional workloads"):
        resolve(cfg(consistency_models=["serializable"]))
    monkeypatch.setattr(RaftKV, "workloads", ("register", "list-append"))
    with pytest.raises(UsageError, match="unknown --consistency-model 'serialisable'"):
        resolve(cfg(workload="list-append", consistency_models=["serialisable"]))
    plan = resolve(cfg(workload="list-append", consistency_models=["serializable"]))
    from harness.runner import check
    results, _ = check(plan.workload, [], cfg(consistency_models=["serializable"]))
    assert "elle-list-append" in results


def test_nodes_must_fit_in_the_machines_memory(monkeypatch):
    import harness.runner
    monkeypatch.setattr(harness.runner, "_machine_memory_mb", lambda: 4096)
    with pytest.raises(UsageError, match="more than this machine's 4096 MiB"):
        resolve(cfg(nodes=5, node_memory_mb=1024))
    resolve(cfg(nodes=3, node_memory_mb=1024))


def test_the_nemesis_interval_defaults_to_the_systems_own():
    slow = TestConfig(system="pgha", nemeses=["pause"], time_limit=120)
    resolve(slow)
    assert slow.nemesis_interval == 20.0          # pgha declares default_nemesis_interval
    plain = cfg(nemeses=["pause"])
    resolve(plain)
    assert plain.nemesis_interval == 10.0
    given = TestConfig(system="pgha", nemeses=["pause"], nemesis_interval=15, time_limit=60)
    resolve(given)
    assert given.nemesis_interval == 15
    with pytest.raises(UsageError, match="leaves no room"):     # 20 s x 3 kinds in 60 s
        resolve(TestConfig(system="pgha", nemeses=["pause", "kill", "partition"],
                           time_limit=60))
