from clusters.daemon import detached, silent_node_error


class FakeCluster:
    def __init__(self):
        self.commands = []

    def exec(self, node, cmd, **kw):
        self.commands.append((node, cmd))
        return 0, "line 1\nbind: address already in use\n"


def test_the_first_silent_node_is_named_with_its_log_tail():
    cluster = FakeCluster()
    error = silent_node_error(cluster, {"n1": {"role": "leader"}, "n2": None, "n3": None},
                              "etcd", 2379, "/var/log/etcd/etcd.log", 15)
    assert error.node == "n2" and "etcd did not answer on port 2379 within 15s" in str(error)
    assert "address already in use" in str(error)
    assert cluster.commands == [("n2", "tail -n 3 /var/log/etcd/etcd.log")]
    assert silent_node_error(cluster, {"n1": {}}, "etcd", 2379, "x", 15) is None


def test_detached_starts_only_when_the_daemon_is_not_running():
    line = detached("python3 server.py", "/run/s.pid", "/var/log/s.log")
    assert line.startswith("if [ -f /run/s.pid ] && kill -0 $(cat /run/s.pid)")
    assert "setsid python3 server.py >>/var/log/s.log 2>&1 </dev/null &" in line
