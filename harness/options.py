"""Plugin options: each system, workload, nemesis and checker declares what it accepts.

A plugin class lists `options = (Option(...), ...)`. The CLI reads the declarations to
offer them (`--nemesis-opt partition.shapes=halves,one`, `harness list`), parses the
strings a user typed into typed values with `Option.parse`, and builds the plugin with
`build(cls, given)` as `cls(**values)`. The runner never knows an option by name: adding
a plugin with options touches nothing in the harness core.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import UsageError


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on", ""):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _parse_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str, "int": int, "float": _parse_float, "bool": _parse_bool,
    "list": _parse_list, "json": json.loads,
}


@dataclass(frozen=True)
class Option:
    """One option of a plugin.

    `name` is the CLI spelling (dashes) and, with dashes turned into underscores, the
    keyword the plugin's constructor takes. `type` is one of PARSERS. `choices`, when
    given, bounds a str value or every element of a list value. `minimum`/`maximum` bound
    numbers. `validate` may raise ValueError with a reason for anything else. `flag`
    names a dedicated `harness test` flag generated for it (kept for flags users know).
    """

    name: str
    type: str = "str"
    default: Any = None
    help: str = ""
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    validate: Callable[[Any], None] | None = field(default=None, compare=False)
    flag: str | None = None     # a dedicated CLI flag (e.g. --process-targets); plugins
    #                             declaring the same flag all take its value

    @property
    def keyword(self) -> str:
        return self.name.replace("-", "_")

    def parse(self, text: str, where: str) -> Any:
        """The typed value of `text`, or UsageError naming `where` (a flag) and why."""
        try:
            value = PARSERS[self.type](text)
        except (ValueError, TypeError) as e:
            raise UsageError(f"{where}: {text!r} is not a valid {self.type} ({e})") from None
        self.check(value, where)
        return value

    def check(self, value: Any, where: str) -> None:
        items = value if isinstance(value, list) and self.type == "list" else [value]
        if self.choices:
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise UsageError(f"{where}: unknown {', '.join(map(str, bad))}; valid: "
                                 f"{', '.join(map(str, self.choices))}")
        if self.type in ("int", "float"):
            if isinstance(value, float) and not math.isfinite(value):
                raise UsageError(f"{where}: must be a finite number, got {value}")
            if self.minimum is not None and value < self.minimum:
                raise UsageError(f"{where}: must be at least {self.minimum:g}, got {value}")
            if self.maximum is not None and value > self.maximum:
                raise UsageError(f"{where}: must be at most {self.maximum:g}, got {value}")
        if self.validate is not None:
            try:
                self.validate(value)
            except ValueError as e:
                raise UsageError(f"{where}: {e}") from None

    def describe(self) -> str:
        default = "" if self.default in (None, (), []) else f" [default: {_show(self.default)}]"
        choices = f" ({', '.join(map(str, self.choices))})" if self.choices else ""
        return f"{self.name} ({self.type}){choices}: {self.help}{default}"


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def declared(cls) -> tuple[Option, ...]:
    return tuple(getattr(cls, "options", ()) or ())


def parse_assignments(pairs: list[str], flag: str) -> dict[str, dict[str, str]]:
    """`["nem.shapes=a,b", ...]` -> {"nem": {"shapes": "a,b"}} (plugin -> option -> text).

    Returns raw strings per plugin; `build` types them against the declarations."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        target, eq, text = pair.partition("=")
        plugin, dot, name = target.partition(".")
        if not eq or not dot or not plugin or not name:
            raise UsageError(f"{flag} {pair!r}: expected PLUGIN.OPTION=VALUE "
                             "(e.g. partition.shapes=halves,one)")
        out.setdefault(plugin.strip(), {})[name.strip()] = text
    return out


def resolve_values(cls, plugin: str, given: dict[str, Any], flag: str,
                   qualified: bool | None = None) -> dict[str, Any]:
    """Typed constructor keywords for `cls` from `given` ({option name: str or value}).

    Strings are parsed; values already typed (from dedicated flags) are checked. Unknown
    names raise UsageError listing the plugin's options. Messages name the option as
    typed: `PLUGIN.NAME` when the flag takes that form (`qualified`, the default for
    flags of several plugins such as --nemesis-opt), else `NAME`."""
    if qualified is None:
        qualified = flag == "--nemesis-opt"
    by_name = {o.name: o for o in declared(cls)}
    values: dict[str, Any] = {}
    for name, raw in given.items():
        option = by_name.get(name) or by_name.get(name.replace("_", "-"))
        label = f"{plugin}.{name}" if qualified else name
        if option is None:
            valid = ", ".join(by_name) or "none"
            raise UsageError(f"{flag} {label}: {plugin} has no option {name!r}; "
                             f"valid: {valid}")
        where = f"{flag} {plugin}.{option.name}" if qualified else f"{flag} {option.name}"
        if isinstance(raw, str):
            values[option.keyword] = option.parse(raw, where)
        else:
            option.check(raw, where)
            values[option.keyword] = raw
    return values


def build(cls, plugin: str, given: dict[str, Any], flag: str):
    """Instantiate a plugin from its declared options (defaults for what is not given).

    A constructor that rejects the values (TypeError, ValueError) is a usage error too."""
    values = resolve_values(cls, plugin, given, flag)
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{flag}: {plugin} rejected its options ({e})") from None
