"""sqldb: the bundled SQL database, SQLite on every node replicated by the shared Raft
core (deployment in deploy.py, client in client.py, the server itself in
server/sqldb_server.py; see docs/sqldb.md)."""

from .deploy import SqlDB

__all__ = ["SqlDB"]
