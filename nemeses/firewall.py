"""iptables chains of the harness's own inside the nodes, shared by the network faults.

Every network fault keeps its rules in a chain named HARNESS-<FAULT>, hooked into INPUT,
so healing flushes that chain and nothing else (the harness touches only what it made;
the SSH backend's teardown removes the HARNESS-* chains a run created). Rules go in
with one `iptables-restore --noflush` per node, so a fault takes effect all at once on
that node.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from . import FaultFailed  # noqa: F401 - re-exported for the network faults

EXEC_TIMEOUT_S = 10


def ensure_chain_cmd(chain: str) -> str:
    return (f"(iptables -N {chain} 2>/dev/null || true) && "
            f"(iptables -C INPUT -j {chain} 2>/dev/null || iptables -I INPUT 1 -j {chain})")


def rules_cmd(chain: str, rules: list[str]) -> str:
    """Replace the chain's rules by `rules` (each `-A CHAIN ...` without the -A part)."""
    lines = ["*filter", f":{chain} - [0:0]"] + [f"-A {chain} {r}" for r in rules] + ["COMMIT"]
    body = "\\n".join(lines)
    return f"{ensure_chain_cmd(chain)} && printf '{body}\\n' | iptables-restore --noflush"


def flush_cmd(chain: str) -> str:
    """Flush the chain where it exists; a flush that fails is an error (a node without the
    chain has nothing to heal)."""
    return f"if iptables -n -L {chain} >/dev/null 2>&1; then iptables -F {chain}; fi"


def on_each(run, commands: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Run each node's command in parallel: node -> (exit code, output); an exec that
    raised is (-1, the error)."""

    def one_node(item):
        node, cmd = item
        try:
            return node, run.cluster.exec(node, cmd, timeout=EXEC_TIMEOUT_S, check=False)
        except Exception as e:
            return node, (-1, str(e))

    with ThreadPoolExecutor(max_workers=max(1, len(commands))) as pool:
        return dict(pool.map(one_node, commands.items()))


def failures(results: dict[str, tuple[int, str]]) -> dict[str, str]:
    return {n: (out.strip()[-200:] or f"exit {rc}")
            for n, (rc, out) in results.items() if rc != 0}


def apply(run, what: str, commands: dict[str, str]) -> dict[str, str]:
    """Run the commands; raise FaultFailed when every node failed, else return the
    errors of the nodes that did (recorded with the fault)."""
    errors = failures(on_each(run, commands))
    if errors and len(errors) == len(commands):
        raise FaultFailed(what, errors)
    return errors
