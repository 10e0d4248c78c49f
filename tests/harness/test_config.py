from __future__ import annotations

import pytest

from harness.config import ConfigError, load_suite, parse_suite

GOOD = """
suite: demo
defaults:
  cluster: {nodes: 3}
  workload: {rate: 50}
tests:
  - name: a
    system: raft
  - name: b
    system: {name: raft, bugs: [stale-read]}
    cluster: {nodes: 5}
    time_limit: 12.5
"""


def test_a_suite_builds_into_specs_with_defaults_merged_under_each_test():
    suite = parse_suite(GOOD, source="demo.yaml")
    a, b = suite.tests
    assert suite.name == "demo"
    assert (a.cluster.nodes, b.cluster.nodes) == (3, 5)
    assert a.workload.rate == b.workload.rate == 50.0
    assert b.system.bugs == ("stale-read",)
    assert b.time_limit == 12.5 and a.system.name == "raft"


@pytest.mark.parametrize(
    "text, line, path, words",
    [
        ("tests:\n  - name: a\n    colour: red\n", 3, "tests[0].colour", "unknown key; allowed:"),
        (
            "tests:\n  - name: a\n    cluster:\n      nodes: 0\n",
            4,
            "tests[0].cluster.nodes",
            "need at least 1 node",
        ),
        (
            "tests:\n  - name: a\n    cluster:\n      nodes: five\n",
            4,
            "tests[0].cluster.nodes",
            "expected an integer, got 'five'",
        ),
        (
            "tests:\n  - name: a\n    time_limit: [1]\n",
            3,
            "tests[0].time_limit",
            "expected float, got a list",
        ),
        (
            "tests:\n  - name: a\n    nemesis: {faults: [fire]}\n",
            3,
            "tests[0].nemesis.faults",
            "unknown fault 'fire'; allowed: byzantine, clock, corrupt, delay",
        ),
        ("tests:\n  - system: raft\n", 2, "tests[0].name", "required key is missing"),
        ("tests:\n  - name: a\n  - name: a\n", 3, "tests[1].name", "used twice"),
        ("suite: x\nextra: 1\ntests: [{name: a}]\n", 2, "extra", "allowed: defaults, suite, tests"),
    ],
)
def test_bad_input_names_the_line_the_key_and_what_is_allowed(text, line, path, words):
    with pytest.raises(ConfigError) as e:
        parse_suite(text, source="bad.yaml")
    msg = str(e.value)
    assert msg.startswith(f"bad.yaml:{line} at '{path}'"), msg
    assert words in msg


def test_yaml_syntax_errors_name_the_line():
    with pytest.raises(ConfigError, match=r"^bad.yaml:3: not valid YAML: .*at line 2"):
        parse_suite("tests:\n  - name: [a\n", source="bad.yaml")


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the suite file"):
        load_suite(tmp_path / "nope.yaml")


def test_every_shipped_suite_is_valid():
    from pathlib import Path

    suites = sorted(Path(__file__).resolve().parents[2].glob("suites/*.yaml"))
    assert suites, "no suites shipped"
    for path in suites:
        assert load_suite(path).tests
