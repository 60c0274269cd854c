"""What the terminal shows of a result: the first counterexample in a few lines.

Checkers share a few conventions for what they found, and this reads those, never a
checker's name: `failures` (a list, each with a `key` and a `message`: linearizability),
`anomalies` (type -> examples; a cycle example carries `explanation` lines, others a
`message`, or are shown as compact JSON). The report has everything; this is the teaser.
"""

from __future__ import annotations

import json

MAX_LINES = 6
MAX_WIDTH = 200


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_WIDTH else text[:MAX_WIDTH - 3] + "..."


def first_counterexample(results: dict) -> list[str]:
    """A few lines describing the first thing an invalid checker found ([] if none)."""
    for name, r in results.items():
        if not isinstance(r, dict) or r.get("valid") is not False:
            continue
        for failure in r.get("failures") or ():
            if isinstance(failure, dict) and failure.get("message"):
                key = f"key {failure['key']}: " if "key" in failure else ""
                return [_clip(f"{name}: {key}{failure['message']}")]
        anomalies = r.get("anomalies")
        if isinstance(anomalies, dict):
            for kind, examples in anomalies.items():
                if not examples:
                    continue
                example = examples[0] if isinstance(examples, list) else examples
                head = f"{name}: {kind}"
                if isinstance(example, dict) and example.get("explanation"):
                    lines = [_clip(x) for x in example["explanation"]]
                    if len(lines) > MAX_LINES - 1:
                        lines = lines[:MAX_LINES - 2] + [f"... ({len(lines)} steps in all)"]
                    return [head] + ["  " + x for x in lines]
                if isinstance(example, dict) and example.get("message"):
                    return [_clip(f"{head}: {example['message']}")]
                return [_clip(f"{head}: {json.dumps(example, default=str)}")]
    return []
