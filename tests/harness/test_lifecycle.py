import threading
import time

from harness.lifecycle import ClusterMonitor, Resources


def test_resources_tear_down_newest_first_and_a_failure_does_not_skip_the_rest():
    calls = []
    r = Resources()
    r.push("cluster", lambda: calls.append("cluster"))
    r.push("logs", lambda: (_ for _ in ()).throw(RuntimeError("no logs")))
    r.push("faults", lambda: calls.append("faults"))
    errors = r.close()
    assert calls == ["faults", "cluster"]
    assert errors == ["logs: RuntimeError: no logs"]
    assert r.close() == errors and calls == ["faults", "cluster"]     # once only


def test_a_second_closer_waits_for_the_first():
    r = Resources()
    started, release = threading.Event(), threading.Event()
    done = []

    def slow():
        started.set()
        release.wait(5)
        done.append("slow")

    r.push("slow", slow)
    t = threading.Thread(target=r.close)
    t.start()
    started.wait(5)
    waiter = threading.Thread(target=lambda: done.append(("waited", r.close(wait_s=5))))
    waiter.start()
    time.sleep(0.1)
    assert done == []
    release.set()
    t.join(5)
    waiter.join(5)
    assert done[0] == "slow" and done[1][0] == "waited"


def test_monitor_stops_the_run_on_the_first_problem():
    state = {"problems": []}
    stop = threading.Event()
    monitor = ClusterMonitor(lambda: state["problems"], stop, clock=lambda: 42,
                             health=lambda: {"n1": "leader"}, interval_s=0.01, health_every=1)
    monitor.start()
    time.sleep(0.1)
    assert not stop.is_set() and monitor.samples
    state["problems"] = ["node n3's container was removed"]
    assert stop.wait(2)
    monitor.finish()
    assert monitor.lost == "node n3's container was removed"
    assert monitor.events == [{"time": 42, "problem": "node n3's container was removed"}]


def test_a_probe_that_raises_is_a_lost_cluster():
    stop = threading.Event()

    def probe():
        raise ConnectionError("engine gone")

    monitor = ClusterMonitor(probe, stop, clock=lambda: 0, interval_s=0.01)
    monitor.start()
    assert stop.wait(2)
    assert "engine gone" in monitor.lost
