"""The disk faults' file system (``nemesis.diskfs``, ``nemesis/lazyfs/lazyfs.c``) against real
processes: a writer that syncs some of what it writes and is killed; what survives a kill
(everything: the page cache outlives a process) and what survives ``lose`` (only what was
synced); ENOSPC and slow writes seen by a writer, and their heals; nothing mounted, no helper
and no synced copies left after unmount."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nemesis import diskfs

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root"),
    pytest.mark.skipif(
        diskfs.unavailable("local") is not None, reason=f"{diskfs.unavailable('local')}"
    ),
]


@dataclass
class HostDir:
    """A node as the file system sees one: a work directory on this machine."""

    name: str
    workdir: str
    namespace: str = "sbtestfs-n1"
    shares_filesystem: bool = True


@pytest.fixture
def node(tmp_path: Path) -> Iterator[HostDir]:
    n = HostDir("n1", str(tmp_path / "n1"))
    os.makedirs(n.workdir)
    (Path(n.workdir) / "node.log").write_text("before the mount\n")
    diskfs.mount(n, f"{n.workdir}/data")
    try:
        yield n
    finally:
        diskfs.unmount(n)


# Writes in the data directory as a system would, says "ready", then waits to be killed.
WRITER = textwrap.dedent("""
    import os, sys
    os.chdir(sys.argv[1])
    os.makedirs("data/sub", exist_ok=True)
    def put(name, data, flags=0):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | flags, 0o644)
        os.write(fd, data)
        return fd
    fd = put("data/log", b"synced;")
    os.fsync(fd)
    os.write(fd, b"unsynced;")                     # written after the last fsync
    os.close(put("data/sub/dsync", b"O_DSYNC", os.O_DSYNC))
    fd = put("data/state.tmp", b"new state")       # atomic replace: write, fsync, rename,
    os.fsync(fd); os.close(fd)                     # fsync of the directory
    os.replace("data/state.tmp", "data/state")
    d = os.open("data", os.O_RDONLY); os.fsync(d); os.close(d)
    os.close(put("data/named", b"data not synced"))  # created before no directory sync:
    fd = os.open("data/late", os.O_WRONLY | os.O_CREAT, 0o644)
    d = os.open("data", os.O_RDONLY); os.fsync(d); os.close(d)   # its name is durable,
    os.write(fd, b"late data")                     # its data is not
    os.close(put("data/never", b"never synced"))   # created, never synced
    with open("node.log", "a") as log:             # outside the data directory
        log.write("never synced either\\n")
    print("ready", flush=True)
    sys.stdin.read()
""")


def write_and_die(node: HostDir) -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", WRITER, node.workdir],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)


def contents(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            out[os.path.relpath(os.path.join(d, n), root)] = Path(d, n).read_bytes()
    return out


def test_a_kill_keeps_everything_and_lose_keeps_only_what_was_synced(node: HostDir) -> None:
    write_and_die(node)
    data = f"{node.workdir}/data"
    assert contents(data) == {
        "log": b"synced;unsynced;",
        "never": b"never synced",
        "sub/dsync": b"O_DSYNC",
        "state": b"new state",
        "named": b"data not synced",
        "late": b"late data",
    }, "a killed process's writes are in the page cache: a kill alone loses nothing"
    state = diskfs.control(node, "lose")
    assert contents(data) == {
        "log": b"synced;",
        "sub/dsync": b"O_DSYNC",
        "state": b"new state",
        "named": b"",
        "late": b"",
    }
    assert state["last_loss"] == {"restored": 1, "emptied": 2, "removed": 1,
                                  "bytes": 9 + 12 + 15 + 9}  # fmt: skip
    log = (Path(node.workdir) / "node.log").read_text()
    assert log == "before the mount\nnever synced either\n", "only the data directory forgets"
    # what is left is synced: a second loss changes nothing
    assert diskfs.control(node, "lose")["last_loss"] == {
        "restored": 0, "emptied": 0, "removed": 0, "bytes": 0
    }  # fmt: skip
    assert contents(data)["log"] == b"synced;"


APPEND = textwrap.dedent("""
    import os, sys, time
    t = time.monotonic()
    try:
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, b"x" * 100)
        os.fsync(fd)
        print("ok", round(time.monotonic() - t, 3))
    except OSError as e:
        print(e.errno, round(time.monotonic() - t, 3))
""")


def append(path: str) -> tuple[str, float]:
    """What a writer process sees appending 100 bytes and syncing: ("ok" or the errno, the
    seconds it took)."""
    out = subprocess.run([sys.executable, "-c", APPEND, path], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()  # fmt: skip
    return out[0], float(out[1])


def test_enospc_is_seen_by_a_writer_until_the_heal(node: HostDir) -> None:
    os.makedirs(f"{node.workdir}/data")
    assert append(f"{node.workdir}/data/f")[0] == "ok"
    assert diskfs.control(node, "enospc 1")["enospc"] is True
    assert append(f"{node.workdir}/data/f")[0] == "28", "ENOSPC on an existing file"
    assert append(f"{node.workdir}/data/new")[0] == "28", "ENOSPC on a create"
    assert append(f"{node.workdir}/outside")[0] == "ok", "outside the data directory it writes"
    assert diskfs.control(node, "enospc 0")["enospc"] is False
    assert append(f"{node.workdir}/data/f")[0] == "ok"
    assert os.path.getsize(f"{node.workdir}/data/f") == 200


def test_a_slow_disk_delays_each_write_and_sync_until_the_heal(node: HostDir) -> None:
    os.makedirs(f"{node.workdir}/data")
    assert diskfs.control(node, "slow 1000")["slow_ms"] == 1000
    result, took = append(f"{node.workdir}/data/f")
    assert result == "ok" and took >= 2.0, f"a write and an fsync at 1 s each took {took} s"
    diskfs.control(node, "slow 0")
    result, took = append(f"{node.workdir}/data/f")
    assert result == "ok" and took < 1.0, took


def test_bad_commands_are_refused(node: HostDir) -> None:
    with pytest.raises(RuntimeError, match="refused 'explode'"):
        diskfs.control(node, "explode")
    with pytest.raises(RuntimeError, match="refused 'slow -5'"):
        diskfs.control(node, "slow -5")


def test_unmount_leaves_the_files_and_nothing_else(tmp_path: Path) -> None:
    n = HostDir("n1", str(tmp_path / "n1"))
    os.makedirs(n.workdir)
    diskfs.mount(n, f"{n.workdir}/data")
    diskfs.mount(n, f"{n.workdir}/data")  # a second kind's prepare: mounted once
    assert [w for _, w in diskfs.mounts()].count(n.workdir) == 1
    write_and_die(n)
    helpers = _helpers(n.workdir, wait=0)
    assert len(helpers) == 1
    diskfs.unmount(n)
    mounts = subprocess.run(["mount"], capture_output=True, text=True).stdout
    assert n.workdir not in mounts and "splitbrain-lazyfs" not in mounts.split(n.workdir)[0]
    assert not _helpers(n.workdir), "the helper exits when unmounted"
    left = f"{n.workdir}.lazyfs-synced"
    assert not os.path.exists(left), (os.listdir(left), open(f"{n.workdir}.lazyfs.log").read())
    assert contents(f"{n.workdir}/data")["log"] == b"synced;unsynced;", "files stay as written"
    diskfs.unmount(n)  # a second unmount (another kind's unprepare) does nothing


def test_it_refuses_a_data_directory_outside_the_work_directory(tmp_path: Path) -> None:
    from clusters.base import SetupError

    n = HostDir("n1", str(tmp_path / "n1"))
    with pytest.raises(SetupError, match="not inside its work directory"):
        diskfs.mount(n, str(tmp_path / "elsewhere"))


def test_where_it_cannot_be_made_it_says_why() -> None:
    why = diskfs.unavailable("ssh")
    assert why is not None and "an SSH host is a machine of the user's own" in why
    why = diskfs.unavailable("elsewhere")
    assert why is not None and "only the local and docker backends" in why
    assert diskfs.unavailable("local") is None
    assert diskfs.unavailable("docker") is None  # libfuse3.a comes with libfuse3-dev


def _helpers(workdir: str, wait: float = 10.0) -> list[int]:
    """Pids of lazyfs helpers serving ``workdir`` (waiting up to ``wait`` s for them to go)."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and b"lazyfs-" in argv[0] and workdir.encode() in argv:
                found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
