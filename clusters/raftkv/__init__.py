"""raftkv: the bundled Raft key-value store (deployment in deploy.py, client in client.py,
the server itself in server/raftkv_server.py)."""

from .deploy import RaftKV

__all__ = ["RaftKV"]
