"""A daemon that appends what it is sent to a file in its data directory, as a System
(Killable, HasData), for the tests of the disk faults on local and docker nodes.

Each connection: the line it is sent is appended to ``<data>/log`` (fsynced when it starts
with "sync"); the answer is ``{"ok": true, "took": s}`` or ``{"ok": false, "errno": n}``."""

from __future__ import annotations

import json
import socket
import textwrap
import time
from typing import Any

from clusters.base import Node, SetupError
from workloads.daemon import kill_daemons

PORT = 7431
DAEMON = "appender"

APPENDER = textwrap.dedent("""
    import json, os, socket, sys, time
    os.makedirs(sys.argv[2], exist_ok=True)
    fd = os.open(os.path.join(sys.argv[2], "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    srv = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    while True:
        conn, _ = srv.accept()
        with conn:
            line = conn.recv(1024)
            t = time.monotonic()
            try:
                os.write(fd, line)
                if line.startswith(b"sync"):
                    os.fsync(fd)
                reply = {"ok": True, "took": time.monotonic() - t}
            except OSError as e:
                reply = {"ok": False, "errno": e.errno}
            conn.sendall(json.dumps(reply).encode())
""")


def send(node: Node, line: str, timeout: float = 30.0) -> dict[str, Any]:
    with socket.create_connection((node.address, PORT), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        return dict(json.loads(s.recv(1024)))


class AppenderSystem:
    """The appender as a System: Killable, HasData; ``daemon`` names its process."""

    daemon = DAEMON

    def setup(self, node: Node) -> None:
        self.start(node)

    def start(self, node: Node) -> None:
        python = getattr(node, "python", "python3")
        node.spawn(DAEMON, [python, "-c", APPENDER, str(PORT), self.data_dir(node)])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((node.address, PORT), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SetupError(f"the appender did not come up on {node.name}") from None
                time.sleep(0.05)

    def teardown(self, node: Node) -> None:
        self.kill(node)

    def kill(self, node: Node) -> None:
        kill_daemons(node, DAEMON)

    def log_files(self, node: Node) -> list[str]:
        return []

    def data_dir(self, node: Node) -> str:
        return f"{node.workdir}/appender-data"
