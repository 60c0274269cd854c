"""raft: the Raft core both bundled servers run on (raftkv and sqldb).

raftcore.py is standard library only and imports nothing from the harness: it is uploaded
to /opt/raft/ on every node, and each server puts that folder on its sys.path. A server
supplies only its replicated state machine and what its leader does with a request.
deploy.py is the harness side both systems share: upload, start, wait for a leader,
observe roles.
"""

from .deploy import RaftSystem

__all__ = ["RaftSystem"]
