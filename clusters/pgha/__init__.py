"""pgha: PostgreSQL 15 managed by Patroni (Debian's 3.0.2, in the node image), with etcd
(clusters/etcd, on the same nodes) as Patroni's DCS.

deploy.py starts and operates the cluster; client.py runs the list-append and
rw-register workloads as SQL transactions through psycopg 3."""

from .deploy import PgHA

__all__ = ["PgHA"]
