import math

import pytest

from harness.errors import UsageError
from harness.options import Option, build, parse_assignments, resolve_values


class Plugin:
    options = (
        Option("level", "int", 1, "how much", minimum=0, maximum=9),
        Option("ratio", "float", 0.5, "a share", minimum=0, maximum=1),
        Option("modes", "list", ("a",), "which", choices=("a", "b")),
        Option("loud", "bool", False, "say it"),
    )

    def __init__(self, level=1, ratio=0.5, modes=("a",), loud=False):
        self.level, self.ratio, self.modes, self.loud = level, ratio, modes, loud


def test_options_are_typed_and_defaults_fill_the_rest():
    p = build(Plugin, "plug", {"level": "3", "modes": "a,b", "loud": "true"}, "--x-opt")
    assert (p.level, p.ratio, p.modes, p.loud) == (3, 0.5, ["a", "b"], True)


@pytest.mark.parametrize("given, needle", [
    ({"level": "10"}, "at most 9"),
    ({"level": "-1"}, "at least 0"),
    ({"level": "two"}, "not a valid int"),
    ({"ratio": "nan"}, "finite"),
    ({"ratio": "inf"}, "finite"),
    ({"modes": "a,c"}, "unknown c; valid: a, b"),
    ({"loud": "maybe"}, "true or false"),
    ({"volume": "3"}, "plug has no option 'volume'; valid: level, ratio, modes, loud"),
])
def test_bad_option_values_are_usage_errors_naming_flag_and_option(given, needle):
    with pytest.raises(UsageError) as e:
        build(Plugin, "plug", given, "--x-opt")
    assert needle in str(e.value) and "--x-opt" in str(e.value)


def test_assignments_parse_plugin_dot_option():
    assert parse_assignments(["partition.shapes=halves,one", "kill.targets=all"], "--n") == {
        "partition": {"shapes": "halves,one"}, "kill": {"targets": "all"}}
    for bad in ("shapes=halves", "partition.shapes", ".x=1"):
        with pytest.raises(UsageError, match="PLUGIN.OPTION=VALUE"):
            parse_assignments([bad], "--nemesis-opt")


def test_typed_values_from_dedicated_flags_are_checked_too():
    assert resolve_values(Plugin, "plug", {"level": 4}, "--x") == {"level": 4}
    with pytest.raises(UsageError):
        resolve_values(Plugin, "plug", {"ratio": math.nan}, "--x")
