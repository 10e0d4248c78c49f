"""ZooKeeper's extra settings on a real server: ``extra_config`` lines reach zoo.cfg (the
server's ``conf`` shows them in force, the last of a key given twice winning), ``extra_args``
reach the JVM before the main class; and a suite with a bad one is refused when it is read,
naming the key."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from harness.config import ConfigError, parse_suite
from workloads.zookeeper import JAVA, ZOOKEEPER_JAR, ZooKeeperOptions, ZooKeeperSystem
from workloads.zookeeper.fourletter import four_letter

pytestmark = pytest.mark.skipif(
    not (os.path.exists(ZOOKEEPER_JAR) and shutil.which(JAVA)),
    reason=f"{ZOOKEEPER_JAR} or {JAVA} is absent: install Debian's zookeeper (./setup --tests "
    "does)",
)


def test_extra_config_lines_and_jvm_flags_reach_the_server(tmp_path: Path) -> None:
    node = HostNode("n1", tmp_path / "n1")
    options = ZooKeeperOptions(
        extra_config=("minSessionTimeout=1500", "minSessionTimeout=1700"),
        extra_args=("-Dsplitbrain.test=yes",),
    )
    system = ZooKeeperSystem(free_base_port(3), nodes=[node], options=options)
    try:
        system.setup(node)
        conf = four_letter(*system.endpoint(node), "conf", timeout=5.0) or ""
        assert "minSessionTimeout=1700" in conf.splitlines(), conf
        pid = node.procs["zookeeper"].pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        java = next(a for a in argv if a.endswith("java"))
        assert argv.index("-Dsplitbrain.test=yes") < argv.index(
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"
        ), (java, argv)
    finally:
        system.teardown(node)


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("extra_config", "[snapCount]", "expected key=value"),
        ("extra_args", "[snapCount=1]", "expected a flag starting with -"),
    ],
)
def test_a_bad_extra_setting_is_refused_when_the_suite_is_read(key, value, said) -> None:
    text = f"tests:\n  - name: a\n    system: {{name: zookeeper, options: {{{key}: {value}}}}}\n"
    with pytest.raises(ConfigError) as e:
        parse_suite(text, source="z.yaml")
    assert key in str(e.value) and said in str(e.value), str(e.value)
