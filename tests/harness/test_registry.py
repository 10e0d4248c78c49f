"""The registries and typed options: what a plugin author relies on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import registry
from harness.registry import (
    CheckerInfo,
    NoOptions,
    OptionError,
    declared,
    option,
    options_dict,
    parse_options,
)


@dataclass(frozen=True)
class Opts:
    hold: float = option(0.2, "seconds a client holds the lock", minimum=0)
    mode: str = option("fast", "how", choices=("fast", "slow"))
    shapes: tuple[str, ...] = option(("one",), "shapes", choices=("one", "halves"))
    limit: int | None = option(None, "a limit, or none")
    sync: bool = option(True, "fsync every write")
    election_ms: str = option("300-600", "range", pattern=r"[0-9]+-[0-9]+", form="MIN-MAX")


def test_declared_reads_type_default_doc_and_bounds_from_the_dataclass() -> None:
    by = {o.name: o for o in declared(Opts)}
    assert list(by) == ["hold", "mode", "shapes", "limit", "sync", "election_ms"]
    assert (by["hold"].type, by["hold"].default, by["hold"].minimum) == (float, 0.2, 0)
    assert by["shapes"].many and by["shapes"].type is str
    assert by["limit"].optional and by["limit"].type is int
    assert by["hold"].doc == "seconds a client holds the lock"


def test_parse_options_gives_a_typed_instance_with_lists_as_tuples_and_ints_as_floats() -> None:
    o = parse_options(Opts, {"hold": 1, "shapes": ["one", "halves"], "limit": 3}, "the x")
    assert o == Opts(hold=1.0, shapes=("one", "halves"), limit=3)
    assert isinstance(o.hold, float)
    assert parse_options(Opts, None, "the x") == Opts()
    assert options_dict(o)["shapes"] == ("one", "halves")


@pytest.mark.parametrize(
    ("given", "key", "words"),
    [
        (
            {"hodl": 1},
            "hodl",
            "the x has no option 'hodl'; allowed: election_ms, hold, limit, mode",
        ),
        ({"hold": -1}, "hold", "need a number >= 0"),
        ({"hold": "1"}, "hold", "expected a number, got '1'"),
        ({"hold": True}, "hold", "expected a number, got True"),
        ({"hold": float("nan")}, "hold", "finite"),
        ({"mode": "medium"}, "mode", "allowed: fast, slow"),
        ({"shapes": "one"}, "shapes", "expected a list of a string"),
        ({"shapes": ["one", "ring"]}, "shapes", "got 'ring'; allowed: one, halves"),
        ({"sync": 1}, "sync", "expected true or false"),
        ({"election_ms": "300"}, "election_ms", "expected MIN-MAX"),
        ({"limit": 1.5}, "limit", "expected an integer"),
    ],
)
def test_a_bad_option_names_the_key_the_value_and_what_is_allowed(
    given: dict, key: str, words: str
) -> None:
    with pytest.raises(OptionError) as e:
        parse_options(Opts, given, "the x")
    assert e.value.key == key
    assert words in e.value.problem


def test_something_that_takes_no_options_refuses_every_one() -> None:
    with pytest.raises(OptionError, match="takes no options"):
        parse_options(NoOptions, {"a": 1}, "the y checker")


def test_an_options_class_must_be_made_with_option_and_be_immutable() -> None:
    @dataclass(frozen=True)
    class Bad:
        x: int = 1

    with pytest.raises(TypeError, match="option"):
        declared(Bad)
    with pytest.raises(TypeError, match="immutable"):
        option([1], "a list default")


# -- entry points ------------------------------------------------------------------------------

PLUGIN = """
from harness.registry import CheckerInfo

GOOD = CheckerInfo("sb-good", "a plugin's checker", lambda options: None)
MISNAMED = CheckerInfo("another-name", "named unlike its entry", lambda options: None)
NOT_AN_INFO = 42
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A package installed the way any is (a dist-info with entry_points.txt) on sys.path."""
    site = tmp_path / "site"
    meta = site / "sb_plugin-0.1.dist-info"
    meta.mkdir(parents=True)
    (site / "sb_plugin.py").write_text(PLUGIN)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-plugin\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text(
        "[splitbrain.checkers]\n"
        "sb-good = sb_plugin:GOOD\n"
        "sb-misnamed = sb_plugin:MISNAMED\n"
        "sb-not-info = sb_plugin:NOT_AN_INFO\n"
        "sb-missing = sb_plugin:NOWHERE\n"
        "sb-no-module = sb_no_such_module:X\n"
    )
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield
    monkeypatch.undo()
    registry.refresh()


def test_a_plugin_entry_is_registered_by_its_name(plugin: None) -> None:
    info = registry.checkers()["sb-good"]
    assert isinstance(info, CheckerInfo) and info.description == "a plugin's checker"
    assert registry.lookup(CheckerInfo, "sb-good", "checker") is info


def test_a_broken_entry_is_set_aside_with_the_reason_and_the_rest_still_load(
    plugin: None,
) -> None:
    broken = registry.broken(CheckerInfo)
    assert "names an info called 'another-name'" in broken["sb-misnamed"]
    assert "is a int, not a CheckerInfo" in broken["sb-not-info"]
    assert "does not load: AttributeError" in broken["sb-missing"]
    assert "ModuleNotFoundError" in broken["sb-no-module"]
    assert "(package sb-plugin)" in broken["sb-no-module"]
    assert "sb-good" in registry.checkers()
    with pytest.raises(registry.RegistryError, match="sb-missing.*cannot be used"):
        registry.lookup(CheckerInfo, "sb-missing", "checker")
    with pytest.raises(registry.RegistryError, match="no checker 'nope'; registered: "):
        registry.lookup(CheckerInfo, "nope", "checker")
