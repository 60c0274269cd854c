"""Consistency models and the anomalies each rules out (the table in ../shared/docs/anchors.md).

A model is violated when any anomaly it proscribes is present. Models form a lattice by
inclusion of proscribed sets; `weakest_violated` names the violated models none of whose
weaker models is violated, which is what a user acts on ("this is not even read-committed").

Anomaly names: cycle anomalies are G0, G1c, G-single-item, G-nonadjacent-item, G2-item (key
level: these histories have no predicates), each with -process and -realtime variants (the
cycle needs a session-order or real-time edge). Non-cycle anomalies: G1a, G1b, internal,
dirty-update, lost-update, duplicate-elements, incompatible-order, future-read,
cyclic-versions, garbage-read (a read of a value nobody wrote, which Elle does not check), and
lost-append (an acknowledged append that a later-begun read missed and no read ever saw: it
needs real-time order, so only the real-time models proscribe it).
"""

from __future__ import annotations

CYCLE_BASES = ("G0", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item")


def _variants(bases, suffixes):
    return {b + s for b in bases for s in suffixes}


_RU = {"G0", "cyclic-versions", "duplicate-elements", "garbage-read"}
_RC = _RU | {"G1a", "G1b", "G1c", "dirty-update", "incompatible-order", "future-read"}
_RR = _RC | {"G-single-item", "G-nonadjacent-item", "G2-item", "lost-update"}
_SI = _RC | {"internal", "lost-update", "G-single-item", "G-nonadjacent-item"}
_SER = _RR | _SI
_SI_CYCLES = ("G0", "G1c", "G-single-item", "G-nonadjacent-item")

PROSCRIBED: dict[str, frozenset] = {
    "read-uncommitted": frozenset(_RU),
    "read-committed": frozenset(_RC),
    "repeatable-read": frozenset(_RR),
    "snapshot-isolation": frozenset(_SI),
    "serializable": frozenset(_SER),
    "strong-session-serializable": frozenset(_SER | _variants(CYCLE_BASES, ("-process",))),
    "strong-session-snapshot-isolation": frozenset(_SI | _variants(_SI_CYCLES, ("-process",))),
    "strong-snapshot-isolation": frozenset(_SI | _variants(_SI_CYCLES, ("-process", "-realtime"))
                                           | {"lost-append"}),
    "strict-serializable": frozenset(_SER | _variants(CYCLE_BASES, ("-process", "-realtime"))
                                     | {"lost-append"}),
}
MODELS = tuple(PROSCRIBED)
ALIASES = {"strong-serializable": "strict-serializable", "linearizable": "strict-serializable"}

# Broad anomaly names users (and Elle's options) ask for, and what they include.
ANOMALY_GROUPS = {
    "G1": {"G0", "G1a", "G1b", "G1c"},
    "G2": {"G-single-item", "G-nonadjacent-item", "G2-item"},
    "G-single": {"G-single-item"},
    "G-nonadjacent": {"G-nonadjacent-item"},
}
ALWAYS_CHECKED = {"incompatible-order", "duplicate-elements", "cyclic-versions", "garbage-read",
                  "empty-transaction-graph"}


def canonical_model(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in PROSCRIBED:
        raise KeyError(name)
    return name


def anomalies_to_check(models=(), anomalies=()) -> set[str]:
    """Every anomaly a check must look for: what the models proscribe plus those asked for."""
    wanted = set(ALWAYS_CHECKED)
    for m in models:
        wanted |= PROSCRIBED[canonical_model(m)]
    for a in anomalies:
        wanted |= ANOMALY_GROUPS.get(a, {a})
        if a in ANOMALY_GROUPS.get("G1", ()) or a == "G1":
            wanted.add("G0")
    return wanted


def violated(anomaly_types) -> set[str]:
    found = set(anomaly_types)
    return {m for m, bad in PROSCRIBED.items() if bad & found}


def weakest_violated(anomaly_types) -> list[str]:
    bad = violated(anomaly_types)
    return sorted(m for m in bad
                  if not any(o != m and PROSCRIBED[o] < PROSCRIBED[m] for o in bad))
