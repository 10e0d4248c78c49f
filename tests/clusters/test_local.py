"""The local backend, for real: namespaces on a bridge, daemons, signals, teardown, clean."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.base import Cluster, CommandFailed, Node, SetupError
from clusters.local import LocalCluster, LocalNode, clean

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]

ROOT = Path(__file__).resolve().parents[2]

# Connects to each address on a closed port at once: "refused" means the SYN got there and
# the RST came back, i.e. reachable; a timeout means the packets were lost.
PROBE = textwrap.dedent("""
    import json, socket, sys, threading
    port, timeout, addrs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    out = {}
    def probe(a):
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.connect((a, port))
            out[a] = "open"
        except ConnectionRefusedError:
            out[a] = "refused"
        except OSError as e:
            out[a] = type(e).__name__ + ": " + str(e)
        finally:
            s.close()
    threads = [threading.Thread(target=probe, args=(a,)) for a in addrs]
    for t in threads: t.start()
    for t in threads: t.join()
    print(json.dumps(out))
""")


def probe(node: LocalNode, addrs: list[str], timeout: float = 0.5) -> dict[str, str]:
    r = node.exec([node.python, "-c", PROBE, "9", str(timeout), *addrs], timeout=10)
    return json.loads(r.stdout)


def reachable(result: str) -> bool:
    return result in ("open", "refused")


def leftovers(prefix: str) -> list[str]:
    """Every namespace, link and FORWARD rule that still carries ``prefix``."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if ln.startswith(prefix + "-")]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    found += [f"link {k['ifname']}" for k in links if k["ifname"].startswith(prefix + "-")]
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    found += [f"rule {ln}" for ln in rules.splitlines() if f"splitbrain:{prefix}" in ln]
    return found


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(3, workroot=tmp_path_factory.mktemp("local"))
    try:
        c.create()
        yield c
    finally:
        c.destroy()
        assert leftovers(c.prefix) == []


def test_every_node_reaches_its_peers_and_the_controller(cluster: LocalCluster) -> None:
    assert isinstance(cluster, Cluster) and all(isinstance(n, Node) for n in cluster.nodes)
    assert cluster.controller_address is not None
    for node in cluster.nodes:
        assert isinstance(node, LocalNode)
        others = [n.address for n in cluster.nodes if n is not node]
        result = probe(node, [*others, cluster.controller_address])
        assert all(reachable(r) for r in result.values()), (node.name, result)


def test_the_controller_reaches_every_node(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((node.address, 9), timeout=1).close()


def test_a_node_has_no_route_out_of_its_cluster(cluster: LocalCluster) -> None:
    node = cluster.nodes[0]
    assert isinstance(node, LocalNode)
    routes = node.exec(["ip", "-j", "route"]).stdout
    assert all(r["dst"] != "default" for r in json.loads(routes))
    assert "inet6" not in node.exec(["ip", "addr", "show", "eth0"]).stdout
    # no route, so no packet leaves: the connect fails before sending anything
    assert "Network is unreachable" in probe(node, ["192.0.2.1"])["192.0.2.1"]


def test_names_and_addresses_follow_the_prefix_and_the_state_file(cluster: LocalCluster) -> None:
    state = json.loads(cluster.state_file.read_text())
    assert state["prefix"] == cluster.prefix and state["bridge"] == f"{cluster.prefix}-br"
    assert [n["name"] for n in state["nodes"]] == ["n1", "n2", "n3"]
    for entry, node in zip(state["nodes"], cluster.nodes, strict=True):
        assert entry["namespace"] == f"{cluster.prefix}-n{node.name[1:]}"
        assert entry["address"] == node.address
        assert Path(node.workdir) == cluster.workroot / "nodes" / node.name
        assert Path(node.workdir).is_dir()
    assert all(len(f"{cluster.prefix}-v{i}") <= 15 for i in range(1, 4))
    assert any(f"splitbrain:{cluster.prefix}" in ln for ln in leftovers(cluster.prefix))


def test_exec_runs_inside_the_namespace_and_reports_failures(cluster: LocalCluster) -> None:
    node = cluster.nodes[1]
    assert node.address in node.exec(["ip", "-4", "-br", "addr", "show", "eth0"]).stdout
    assert node.exec(["sh", "-c", "exit 3"], check=False).returncode == 3
    with pytest.raises(CommandFailed, match="exited 1"):
        node.exec(["false"])
    with pytest.raises(TypeError, match="list of strings"):
        node.exec("echo hi")  # type: ignore[arg-type]
    slow = node.exec(["sleep", "5"], timeout=0.3, check=False)
    assert slow.returncode == 124 and "timed out" in slow.stderr


def test_spawn_starts_a_daemon_in_its_own_group_and_signal_stops_the_group(
    cluster: LocalCluster,
) -> None:
    node = cluster.nodes[0]
    assert isinstance(node, LocalNode)
    pid = node.spawn("sleeper", ["sh", "-c", "sleep 60 & echo started; sleep 60"])
    try:
        deadline = time.monotonic() + 5
        log = Path(node.workdir) / "sleeper.log"
        # a line of its own: the log's header line quotes the command, "started" and all
        while "started" not in log.read_text().splitlines() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "started" in log.read_text().splitlines()
        assert os.getpgid(pid) == pid  # a group of its own
        assert (Path(node.workdir) / "sleeper.pid").read_text().strip() == str(pid)
        members = [p for p in node._group("sleeper", pid) if p != pid]
        assert members, "the backgrounded sleep is in the daemon's group"
        in_ns = subprocess.run(["ip", "netns", "pids", node.namespace], capture_output=True,
                               text=True).stdout.split()  # fmt: skip
        assert str(pid) in in_ns
        assert node.alive("sleeper")
        with pytest.raises(RuntimeError, match="already running"):
            node.spawn("sleeper", ["sleep", "1"])

        assert node.signal("sleeper", signal.SIGTERM)
        deadline = time.monotonic() + 5
        while node.alive("sleeper") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not node.alive("sleeper")
        assert not any(process_exists(p) for p in [pid, *members])
        assert node.signal("sleeper", signal.SIGTERM) is False
    finally:
        node.signal("sleeper", signal.SIGKILL)


def test_spawn_passes_env_and_cwd(cluster: LocalCluster, tmp_path: Path) -> None:
    node = cluster.nodes[2]
    assert isinstance(node, LocalNode)
    node.spawn("envy", ["sh", "-c", 'echo "$SB_TEST_VAR $(pwd)"'], env={"SB_TEST_VAR": "hello"},
               cwd=str(tmp_path))  # fmt: skip
    deadline = time.monotonic() + 5
    while node.alive("envy") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert f"hello {tmp_path}" in (Path(node.workdir) / "envy.log").read_text()


def test_put_and_get_copy_files_and_directories(cluster: LocalCluster, tmp_path: Path) -> None:
    node = cluster.nodes[0]
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.txt").write_text("A")
    (tmp_path / "one.txt").write_text("1")
    node.put(tmp_path / "one.txt", "files/one.txt")
    node.put(tmp_path / "tree", "files/tree")
    assert node.exec(["cat", f"{node.workdir}/files/tree/sub/a.txt"]).stdout == "A"
    node.get("files", tmp_path / "back")
    assert (tmp_path / "back" / "one.txt").read_text() == "1"
    assert (tmp_path / "back" / "tree" / "sub" / "a.txt").read_text() == "A"


def test_a_taken_prefix_is_refused_and_the_live_cluster_is_untouched(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    other = LocalCluster(1, prefix=cluster.prefix, workroot=tmp_path)
    with pytest.raises(SetupError, match="in use"):
        other.create()
    other.destroy()
    assert clean(cluster.prefix) == []  # live: clean leaves it alone
    n0, n1 = cluster.nodes[0], cluster.nodes[1]
    assert isinstance(n0, LocalNode)
    assert reachable(probe(n0, [n1.address])[n1.address])  # still there
    assert len([x for x in leftovers(cluster.prefix) if x.startswith("netns")]) == 3


def test_bad_arguments_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="longer than 15"):
        LocalCluster(10, prefix="sbabcdefghij", workroot=tmp_path)
    with pytest.raises(ValueError, match="for 'n'"):
        LocalCluster(0, workroot=tmp_path)
    with pytest.raises(ValueError, match="for 'prefix'"):
        LocalCluster(3, prefix="SB-x", workroot=tmp_path)


def test_destroy_removes_everything_and_can_run_twice(tmp_path: Path) -> None:
    c = LocalCluster(2, workroot=tmp_path)
    try:
        c.create()
        node = c.nodes[1]
        pid = node.spawn("sleeper", ["sleep", "60"])
        assert leftovers(c.prefix)
    finally:
        c.destroy()
    assert leftovers(c.prefix) == []
    assert not process_exists(pid)
    c.destroy()
    assert json.loads(c.state_file.read_text())["destroyed_at"]


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from clusters.local import LocalCluster
    c = LocalCluster(2, prefix=sys.argv[1], workroot=Path(sys.argv[2]))
    c.create()
    pid = c.nodes[0].spawn("sleeper", ["sleep", "60"])
    print(pid, flush=True)
    sys.stdin.read()  # until killed
""")


def test_clean_removes_what_a_killed_controller_left(tmp_path: Path) -> None:
    prefix = "sbt" + os.urandom(3).hex()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, prefix, str(tmp_path)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"the child did not create its cluster: {line!r}"
        daemon = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        left = leftovers(prefix)
        assert any(x.startswith("netns") for x in left) and any("rule" in x for x in left)
        assert process_exists(daemon)

        removed = clean("sbt*")
        assert f"netns {prefix}-n1" in removed
        assert f"link {prefix}-br" in removed
        assert any(r.startswith("iptables") and prefix in r for r in removed)
        assert f"process {daemon} in {prefix}-n1" in removed
        assert leftovers(prefix) == []
        deadline = time.monotonic() + 5
        while process_exists(daemon) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not process_exists(daemon)
        assert clean("sbt*") == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        clean(prefix)


def test_a_host_command_killed_by_a_terminal_signal_before_it_ran_is_run_again(
    tmp_path: Path,
) -> None:
    # what a Ctrl-C held in the spawn window does: the command dies of SIGINT; the first
    # attempt here kills itself so, the second runs to its end
    from clusters.host import detached

    mark = tmp_path / "tried"
    script = f'if [ -e "{mark}" ]; then echo done; else touch "{mark}"; kill -INT $$; fi'
    p = detached(["sh", "-c", script], timeout=10)
    assert (p.returncode, p.stdout.strip()) == (0, "done")
    # a command that fails on its own is not run again
    p = detached(["sh", "-c", f'echo x >> "{tmp_path / "count"}"; exit 3'], timeout=10)
    assert p.returncode == 3 and (tmp_path / "count").read_text() == "x\n"
