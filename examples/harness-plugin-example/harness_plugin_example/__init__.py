"""Example harness plugins (docs/plugins.md walks through each file):

* system.py   `onekv`: one register server per node, all forwarding to n1 (server.py runs
              inside the containers, standard library only);
* nemesis.py  `stall`: pauses some nodes' servers for a while (needs the `pause` capability);
* workload.py `ascending`: writes strictly increasing values per key, and reads them;
* checker.py  `written-values`: every read returns a value that was written.
"""
