import random

import pytest

from harness.errors import UsageError
from nemeses.partition import (CHAIN, PartitionNemesis, drop_commands, grudge_shape, heal_cmd)
from nemeses.process import choose_targets

NODES = ["n1", "n2", "n3", "n4", "n5"]


def visible(grudge, node):
    return set(NODES) - set(grudge[node])


def assert_symmetric(grudge):
    for a, dropped in grudge.items():
        for b in dropped:
            assert a in grudge[b], f"{a} drops {b} but not the reverse"


@pytest.mark.parametrize("seed", range(20))
def test_halves_splits_into_a_minority_and_a_majority(seed):
    grudge, desc = grudge_shape("halves", NODES, random.Random(seed))
    small, large = desc["groups"]
    assert len(small) == 2 and len(large) == 3 and set(small) | set(large) == set(NODES)
    assert_symmetric(grudge)
    for n in small:
        assert visible(grudge, n) == set(small)


@pytest.mark.parametrize("seed", range(10))
def test_one_isolates_exactly_one_node(seed):
    grudge, desc = grudge_shape("one", NODES, random.Random(seed))
    [victim] = desc["groups"][0]
    assert visible(grudge, victim) == {victim}
    assert all(visible(grudge, n) == set(NODES) - {victim} for n in NODES if n != victim)


@pytest.mark.parametrize("seed", range(20))
def test_majorities_ring_every_node_sees_a_distinct_majority(seed):
    grudge, desc = grudge_shape("majorities-ring", NODES, random.Random(seed))
    assert_symmetric(grudge)
    views = [frozenset(visible(grudge, n)) for n in NODES]
    assert all(len(v) == 3 for v in views)
    assert len(set(views)) == len(NODES)


@pytest.mark.parametrize("seed", range(10))
def test_bridge_joins_two_halves_through_one_node(seed):
    grudge, desc = grudge_shape("bridge", NODES, random.Random(seed))
    middle = desc["bridge"]
    assert visible(grudge, middle) == set(NODES)
    others = [n for n in NODES if n != middle]
    assert all(len(visible(grudge, n)) == 3 for n in others)
    assert_symmetric(grudge)


def test_primaries_isolates_the_leader_and_falls_back_to_one():
    grudge, desc = grudge_shape("primaries", NODES, random.Random(0), primaries=["n4"])
    assert visible(grudge, "n4") == {"n4"}
    grudge, desc = grudge_shape("primaries", NODES, random.Random(0), primaries=[])
    assert len(desc["groups"][0]) == 1


def test_rules_stay_in_the_harness_chain():
    ips = {n: f"10.0.0.{i}" for i, n in enumerate(NODES, 1)}
    grudge, _ = grudge_shape("one", NODES, random.Random(3))
    for node, cmd in drop_commands(grudge, ips).items():
        assert CHAIN in cmd
        for n in grudge[node]:
            assert f"-A {CHAIN} -s {ips[n]} -j DROP" in cmd
        assert "iptables -F\n" not in cmd and "iptables -F " not in cmd.replace(f"-F {CHAIN}", "")
    assert f"iptables -F {CHAIN}" in heal_cmd()
    assert "iptables -F " not in heal_cmd().replace(f"-F {CHAIN}", "")


def test_unknown_shape_is_a_usage_error():
    from harness.options import build
    with pytest.raises(UsageError, match="valid: halves"):
        build(PartitionNemesis, "partition", {"shapes": "triangle"}, "--nemesis-opt")


@pytest.mark.parametrize("seed", range(10))
def test_process_fault_targets(seed):
    rng = random.Random(seed)
    assert len(choose_targets("one", NODES, rng)) == 1
    assert 1 <= len(choose_targets("minority", NODES, rng)) <= 2
    assert choose_targets("primaries", NODES, rng, ["n3"]) == ["n3"]
    assert len(choose_targets("majority", NODES, rng)) == 3
