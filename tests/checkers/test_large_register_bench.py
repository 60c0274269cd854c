"""The histories bench/large_register.py times are what it says: linearizable cas-register
histories with crashed ops, which the checker passes, and which it catches once a read
is corrupted."""

from __future__ import annotations

import importlib.util
import os

from checkers.linearizable import check_history

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "large_register.py")
_spec = importlib.util.spec_from_file_location("large_register", _PATH)
large_register = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large_register)


def test_generated_histories_are_linearizable_with_crashes_and_retired_processes():
    for keys, clients in ((200, 50), (1, 8)):
        history = list(large_register.generate(3000, keys, clients, 0.05, seed=3))
        infos = [op for op in history if op["type"] == "info"]
        assert 0.02 < len(infos) / 3000 < 0.08
        # A crashed process never invokes again (the interpreter's rule).
        crashed_at = {op["process"]: op["index"] for op in infos}
        assert not [op for op in history if op["type"] == "invoke"
                    and op["index"] > crashed_at.get(op["process"], len(history))]
        assert [op["index"] for op in history] == list(range(len(history)))
        result = check_history(history, time_limit_s=60)
        assert result["valid"] is True, result.get("unknown_reason")


def test_a_corrupted_read_in_a_generated_history_is_caught():
    history = list(large_register.generate(2000, 1, 4, 0.0, seed=5))
    # A read that returned a value: make it return one no write ever wrote.
    read = next(op for op in reversed(history) if op["type"] == "ok" and op["f"] == "read"
                and op["value"] is not None)
    read["value"] = 99
    assert check_history(history, time_limit_s=60)["valid"] is False
