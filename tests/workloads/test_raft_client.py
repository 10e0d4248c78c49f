"""RaftClient: history ops to requests and replies to completions, against a scripted server."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from harness.history import Op
from workloads.raft import RaftClient


@dataclass
class FakeNode:
    name: str
    address: str
    workdir: str = "/nonexistent"


def node(name: str) -> Any:
    """A node with an address: all a client's open reads of it."""
    return FakeNode(name, "127.0.0.1")


class ScriptedServer:
    """Accepts connections; answers each request line with ``respond(request)``: a dict
    (sent with the request's id), None (no answer), or "close" (drop the connection)."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        try:
            for line in f:
                req = json.loads(line)
                self.requests.append(req)
                reply = self.respond(req)
                if reply == "close":
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                    return
                if reply is not None:
                    conn.sendall(json.dumps({"id": req["id"], **reply}).encode() + b"\n")
        except OSError:
            pass

    def close_connections(self) -> None:
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)  # close() alone waits for the makefile
            except OSError:
                pass
            c.close()

    def stop(self) -> None:
        self.sock.close()
        self.close_connections()


@pytest.fixture
def serve():
    servers: list[ScriptedServer] = []
    clients: list[RaftClient] = []

    def make(respond, timeout: float = 2.0) -> tuple[ScriptedServer, RaftClient]:
        s = ScriptedServer(respond)
        c = RaftClient(timeout=timeout, port=s.port)
        c.open(node("n1"))
        servers.append(s)
        clients.append(c)
        return s, c

    yield make
    for c in clients:
        c.close()
    for s in servers:
        s.stop()


def invoke(f: str, value: Any) -> Op:
    return Op(type="invoke", f=f, value=value, process=3, node="n1")


def kv_server(store: dict[Any, Any]):
    def respond(req: dict[str, Any]) -> dict[str, Any]:
        t = req["type"]
        if t == "read":
            return {"ok": True, "value": store.get(req["key"])}
        if t == "write":
            store[req["key"]] = req["value"]
            return {"ok": True, "value": None}
        if t == "cas":
            if store.get(req["key"]) != req["from"]:
                return {"ok": False, "error": "cas-mismatch", "definite": True, "message": ""}
            store[req["key"]] = req["to"]
            return {"ok": True, "value": None}
        return {"ok": True, "value": {"id": "n1", "role": "leader", "led_terms": [1]}}

    return respond


def test_read_write_and_cas_map_to_requests_and_back_to_independent_key_values(serve):
    server, client = serve(kv_server({}))
    assert client.invoke(invoke("read", ["x", None])).value == ["x", None]
    done = client.invoke(invoke("write", ["x", 3]))
    assert (done.type, done.value, done.process, done.f) == ("ok", ["x", 3], 3, "write")
    assert client.invoke(invoke("read", ["x", None])).value == ["x", 3]
    done = client.invoke(invoke("cas", ["x", [3, 4]]))
    assert (done.type, done.value) == ("ok", ["x", [3, 4]])
    done = client.invoke(invoke("cas", ["x", [3, 5]]))
    assert (done.type, done.value, done.error) == ("fail", ["x", [3, 5]], "cas-mismatch")
    assert client.invoke(invoke("read", ["x", None])).value == ["x", 4]
    assert [{k: v for k, v in r.items() if k != "id"} for r in server.requests] == [
        {"type": "read", "key": "x"},
        {"type": "write", "key": "x", "value": 3},
        {"type": "read", "key": "x"},
        {"type": "cas", "key": "x", "from": 3, "to": 4},
        {"type": "cas", "key": "x", "from": 3, "to": 5},
        {"type": "read", "key": "x"},
    ]
    assert len({r["id"] for r in server.requests}) == 6
    assert len(server.conns) == 1  # one persistent connection


def test_status_completes_with_the_nodes_status(serve):
    _, client = serve(kv_server({}))
    done = client.invoke(invoke("status", None))
    assert done.type == "ok" and done.value["led_terms"] == [1]


@pytest.mark.parametrize(
    ("reply", "type_"),
    [
        ({"ok": False, "error": "not-leader", "definite": True, "leader": None}, "fail"),
        ({"ok": False, "error": "timeout", "definite": False}, "info"),
        ({"ok": False, "error": "superseded"}, "info"),  # no definite: not known to fail
    ],
)
def test_definite_errors_fail_and_the_others_are_info(serve, reply, type_):
    _, client = serve(lambda req: reply)
    done = client.invoke(invoke("write", ["x", 1]))
    assert (done.type, done.error, done.value) == (type_, reply["error"], ["x", 1])


def test_no_reply_in_time_raises_and_a_late_reply_never_answers_a_later_request(serve):
    calls = []
    late = threading.Event()

    def respond(req):
        calls.append(req)
        if len(calls) == 1:
            # answers the first request only once the client has given up on it (no race
            # between a sleep here and the client's timeout on a loaded machine); a client
            # that waited 30 s instead of 0.2 would get this answer and not raise
            late.wait(30)
            return {"ok": True, "value": "late"}
        return {"ok": True, "value": "fresh"}

    _, client = serve(respond, timeout=0.2)
    with pytest.raises(TimeoutError):
        client.invoke(invoke("read", ["x", None]))
    late.set()
    # a server answers one connection's requests in order: on a reused socket the late
    # answer would come first
    assert client.invoke(invoke("read", ["x", None])).value == ["x", "fresh"]


def test_a_connection_dropped_after_sending_raises(serve):
    _, client = serve(lambda req: "close")
    with pytest.raises(ConnectionError):
        client.invoke(invoke("write", ["x", 1]))


def test_a_refused_connection_is_a_definite_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RaftClient(timeout=1.0, port=port)
    client.open(node("n1"))  # the node is down: open does not raise
    done = client.invoke(invoke("write", ["x", 1]))
    assert (done.type, done.error) == ("fail", "connection-refused")


def test_a_connection_the_server_closed_while_idle_is_replaced_before_sending(serve):
    server, client = serve(kv_server({}))
    assert client.invoke(invoke("write", ["x", 1])).type == "ok"
    server.close_connections()  # e.g. the node restarted
    time.sleep(0.05)
    assert client.invoke(invoke("read", ["x", None])).value == ["x", 1]
    assert len(server.conns) == 2


@pytest.mark.parametrize(
    ("f", "value"), [("append", ["x", 1]), ("read", "x"), ("cas", ["x", 1]), ("write", None)]
)
def test_an_op_it_cannot_map_fails_without_being_sent(serve, f, value):
    server, client = serve(kv_server({}))
    done = client.invoke(invoke(f, value))
    assert done.type == "fail" and done.error.startswith("bad-op")
    assert server.requests == []
