"""harness tests as pytest tests, through the plugin harness installs (fixture
`harness_test`). Run: `pytest examples/test_raftkv.py`.

`HARNESS_SYSTEM_OPTS=unsafe-reads pytest examples/test_raftkv.py` runs the same test on
raftkv with stale reads: it fails, and the failure names the run folder with the report.
"""

import os


def test_raftkv_is_linearizable_under_partitions(harness_test):
    system_opts = [o for o in os.environ.get("HARNESS_SYSTEM_OPTS", "").split(",") if o]
    result = harness_test("raftkv", nemesis=["partition"], time_limit=20, nemesis_interval=4,
                          system_opts=system_opts)
    assert result.valid is True, f"{result.message} (report: {result.run_dir}/report.html)"
