"""The stall nemesis: pause (SIGSTOP) the servers of `count` random nodes; resume on heal.

A nemesis is built as `StallNemesis(**options)` from `--nemesis-opt stall.NAME=VALUE`
(or the dedicated flag `--stall-count`). The harness's dispatcher calls `start` at each
fault, `stop` at its end, and `heal_all` at the end of every run (also on Ctrl-C and on
crashes), and records every start and stop in the history as a nemesis event.
"""

from __future__ import annotations

from harness.options import Option


class StallNemesis:
    """Pause the servers of `count` random nodes per fault; resume them on heal."""

    name = "stall"
    requires = frozenset({"pause"})      # refused on a system without pause/resume
    options = (Option("count", "int", 1, "nodes paused at once", minimum=1, maximum=15,
                      flag="--stall-count"),)

    def __init__(self, count: int = 1):
        self.count = count
        self.paused: list[str] = []

    def problems(self, node_count: int) -> list[str]:
        """Why this fault could never happen on a cluster this size (checked before the
        run starts: exit 4 with the reason)."""
        if self.count > node_count:
            return [f"stall.count={self.count} but the cluster has {node_count} nodes"]
        return []

    def start(self, run, rng) -> dict:
        """Inject one fault; return what it did (recorded in the history). Raise only when
        it took effect nowhere."""
        nodes = sorted(rng.sample(run.cluster.nodes, self.count))
        done, errors = [], {}
        for node in nodes:
            try:
                run.system.pause(run.cluster, node)
                done.append(node)
            except Exception as e:  # noqa: BLE001 - recorded per node
                errors[node] = str(e)[:200]
        if not done:
            raise RuntimeError(f"pausing {', '.join(nodes)} failed: {errors}")
        self.paused = done
        return {"phase": "start", "nodes": done, **({"errors": errors} if errors else {})}

    def stop(self, run) -> dict:
        """Heal the fault `start` injected; return what was healed."""
        nodes, self.paused = self.paused, []
        for node in nodes:
            run.system.resume(run.cluster, node)
        return {"phase": "end", "nodes": nodes}

    def heal_all(self, run) -> None:
        """Every node back to health, whatever happened: idempotent, safe at any time."""
        for node in run.cluster.nodes:
            run.system.resume(run.cluster, node)
        self.paused = []
