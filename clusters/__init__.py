"""Systems under test: each subpackage deploys one database onto a cluster.

BUILTINS names the bundled ones (entry points in the group `harness.systems` add more)."""

BUILTINS = {"raftkv": "clusters.raftkv:RaftKV", "etcd": "clusters.etcd:Etcd",
            "pgha": "clusters.pgha:PgHA", "sqldb": "clusters.sqldb:SqlDB"}
