"""The example plugin package (examples/harness-plugin-example) on real containers: its
system deploys, its nemesis pauses nodes, its workload and checker run, and the harness
passes the system in its safe mode and catches it in its unsafe one."""

from tests.plugin_example import install_example

from .conftest import harness, results_of


def test_the_example_plugin_system_passes_and_is_caught(docker_client, tmp_path):
    env = install_example(tmp_path / "site")
    store = str(tmp_path / "store")
    res = harness("test", "--system", "onekv", "--nemesis", "stall", "--time-limit", "12",
                  "--nemesis-interval", "3", "--store", store, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["written-values"]["valid"] is True and results["linearizable"]["valid"] is True
    assert results["run"]["nemeses"]["stall"]["started"] >= 1

    res = harness("test", "--system", "onekv", "--system-opt", "no-forward", "--time-limit", "8",
                  "--store", store, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert results_of(store)["linearizable"]["valid"] is False
