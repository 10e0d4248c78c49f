"""A third-party plugin, used as a user would: the example package (examples/splitbrain-nats)
installed into a temporary directory, then ``splitbrain list`` and ``splitbrain run`` with
that directory on PYTHONPATH. It adds a system (nats), a checker (nats-revisions) and a fault
(nats-pause-leader); its suite uses all three, on a real NATS JetStream cluster."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "splitbrain-nats"
SUITE = EXAMPLE / "suite.yaml"
TEST = "nats-kv-pause-leader"
#: the colour the plugin's FaultInfo gives its fault in reports
FAULT_COLOR = "rgba(39,170,225,.35)"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("nats") is None,
        reason="nats-py is not installed (./setup --tests installs it)",
    ),
]


def nats_server() -> str | None:
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/sbin")


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process that sees the example package installed (in a temporary
    directory, from a copy of its sources, so that the build leaves nothing in the tree)."""
    try:
        where = importlib.metadata.distribution("splitbrain-nats").locate_file("")
    except importlib.metadata.PackageNotFoundError:
        pass
    else:  # its entry points and the copy's would be registered twice
        pytest.skip(f"splitbrain-nats is installed already ({where}): pip uninstall it first")
    tmp = tmp_path_factory.mktemp("plugin")
    source, target = tmp / "source", tmp / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    pip += ["--no-deps", "--target", str(target), str(source)]
    # Offline first (setuptools and wheel as installed); where those cannot build a wheel
    # (no `wheel` beside an older setuptools), in pip's isolated build environment.
    done = subprocess.run([*pip, "--no-build-isolation"], capture_output=True, text=True)
    if done.returncode != 0:
        done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "splitbrain_nats" / "__init__.py").exists()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    if nats_server() is not None:  # where Debian puts it, for a PATH without /usr/sbin
        env["PATH"] = os.pathsep.join([str(Path(nats_server() or "").parent), env["PATH"]])
    return env


def splitbrain(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_list_shows_the_plugins_system_checker_and_fault_with_their_options(plugin):
    r = splitbrain(plugin, "list", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    lines = out.splitlines()
    system = next(i for i, line in enumerate(lines) if line.startswith("  nats: "))
    assert "register" in lines[system + 1] and "4222" in lines[system + 1]
    mine = lines[system + 2 : system + 8]
    assert "cannot be reached by the clock fault: nats-server is a Go program" in mine[0]
    options = [line for line in mine if "options." in line]
    assert "options.bucket" in options[0] and "default splitbrain" in options[0]
    assert "options.replicas" in options[1]
    assert any(line.startswith("  nats-revisions: ") for line in lines)
    fault = next(i for i, line in enumerate(lines) if line.startswith("  nats-pause-leader: "))
    assert "pause-nats-leader" in lines[fault] and "resume-nats-leader" in lines[fault]
    assert lines[fault + 1].strip().startswith("of (") and "stream, meta" in lines[fault + 1]
    assert "nats" not in "\n".join(line for line in lines if "broken" in line)


def test_the_plugins_own_fast_tests_pass(plugin, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=tmp_path,
        env=plugin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed" in r.stdout and "failed" not in r.stdout


def nats_version() -> tuple[int, ...]:
    out = subprocess.run(
        [nats_server() or "nats-server", "--version"], capture_output=True, text=True
    )
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert match, f"nats-server --version said {out.stdout + out.stderr!r}"
    return tuple(int(g) for g in match.groups())


#: the first nats-server whose updates over one revision are serialized (nats-io/nats-server#4320)
FIXED = (2, 9, 21)


@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@pytest.mark.skipif(
    nats_server() is None, reason="nats-server is not installed (./setup --tests installs it)"
)
def test_the_example_suite_runs_the_plugins_system_checker_and_fault(plugin, tmp_path):
    """Before 2.9.21 (Debian bookworm's is 2.9.10) NATS lets two updates over one revision
    both succeed: the suite is INVALID and both checkers say why. A fixed server should give
    VALID; that one was not available to observe."""
    broken = nats_version() < FIXED
    results_root = tmp_path / "results"
    r = splitbrain(plugin, "run", str(SUITE), "--results", str(results_root), "--seed", "5")
    out = r.stdout + r.stderr
    assert r.returncode == (1 if broken else 0), out
    assert f"{TEST}: {'INVALID' if broken else 'VALID'}" in r.stdout
    [run] = list((results_root / TEST).iterdir())
    results = json.loads((run / "results.json").read_text())
    checkers = results["checkers"]
    valid = not broken
    assert results["valid"] is valid and results["exit_code"] == r.returncode
    assert checkers["linearizable"]["valid"] is valid
    assert checkers["nats-revisions"]["valid"] is valid
    if broken:
        assert checkers["linearizable"]["anomalies"][0]["name"] == "nonlinearizable"
        names = {a["name"] for a in checkers["nats-revisions"]["anomalies"]}
        assert names == {"two-updates-over-one-revision"}, names
    history = read_jsonl(run / "history.jsonl")
    # the fault: both leaders paused, as the cluster named them, and resumed
    paused = [op.value for op in history if op.f == "pause-nats-leader" and op.type == "ok"]
    assert {p["of"] for p in paused} == {"stream", "meta"}, paused
    assert all(p["leader"] in {"n1", "n2", "n3"} for p in paused)
    assert any(op.f == "resume-nats-leader" and op.type == "ok" for op in history)
    assert {f["f"] for f in results["faults"]} >= {"pause-nats-leader", "resume-nats-leader"}
    # the evidence the client recorded, which the plugin's checker read
    oks = [op for op in history if op.type == "ok" and op.is_client]
    assert oks and all(isinstance(op.extra["revision"], int) for op in oks)
    assert checkers["nats-revisions"]["details"]["ops_with_revisions"] == len(oks)
    assert all(isinstance(op.extra["over"], int) for op in oks if op.f == "cas")
    report = (run / "report.html").read_text()
    assert "pause-nats-leader" in report and "nats-revisions" in report
    assert FAULT_COLOR in report  # the fault's band in the timeline, in the plugin's colour
    assert (run / "nodes" / "n1" / "nats.log").stat().st_size > 0


@pytest.mark.parametrize(
    ("typo", "line", "named"),
    [
        ("system: {name: nats}", "system: {name: nats, options: {bukcet: kv}}", "'bukcet'"),
        ("{name: nats-pause-leader, of: [stream, meta]}", "{name: nats-pause-leader, off: [meta]}",
         "'off'"),
    ],
)  # fmt: skip
def test_a_typo_in_a_plugin_option_stops_the_suite_naming_it(plugin, tmp_path, typo, line, named):
    text = SUITE.read_text()
    assert typo in text
    suite = tmp_path / "suite.yaml"
    suite.write_text(text.replace(typo, line))
    r = splitbrain(plugin, "run", str(suite), "--results", str(tmp_path / "results"), timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    assert named in r.stderr and f"{suite}:" in r.stderr
    assert not (tmp_path / "results").exists()
