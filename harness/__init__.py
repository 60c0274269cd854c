"""harness: Jepsen-style fault-injection testing for distributed databases.

Roles live in their own packages (see docs/architecture.md): `harness` holds the CLI, the
runner, generators, the history and the control backends; `nemeses`, `workloads`,
`checkers`, `clusters` and `reports` hold the pluggable parts, found by name through
`harness.registry`.
"""

__version__ = "0.1.0"
