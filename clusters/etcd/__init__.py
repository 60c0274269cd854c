"""etcd: real etcd 3.4 (Debian's etcd-server, in the node image) as a system under test.

deploy.py starts and operates the cluster (also reusable by systems that need etcd as
their coordination service); client.py speaks the v3 JSON gateway for the register, set
and list-append workloads."""

from .deploy import Etcd

__all__ = ["Etcd"]
