"""The shared runtime of the reference patterns: wire, RPC errors, durable state, arguments."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from patterns._runtime import (
    ConnectFailed,
    ConnectionLost,
    RecordLog,
    RpcClient,
    RpcTimeout,
    Server,
    atomic_write_json,
    error_reply,
    ok_reply,
    parse_args,
    read_json,
)


@pytest.fixture
def echo_server():
    """A server that echoes ``value``, sleeps on ``sleep`` and raises on ``boom``."""

    def handle(req):
        if req.get("type") == "sleep":
            time.sleep(req["seconds"])
        if req.get("type") == "boom":
            raise RuntimeError("boom")
        return ok_reply(req.get("value"))

    server = Server(("127.0.0.1", 0), handle)
    server.start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_reply_carries_the_id_of_its_request_and_connections_are_reused(echo_server):
    rpc = RpcClient(echo_server.address)
    replies = [rpc.call({"type": "echo", "value": i}) for i in range(5)]
    assert [r["value"] for r in replies] == list(range(5))
    assert len({r["id"] for r in replies}) == 5
    assert len(rpc._idle) == 1  # one connection, reused
    rpc.close()


def test_concurrent_calls_each_get_their_own_reply(echo_server):
    rpc = RpcClient(echo_server.address, pool_size=4)
    got: dict[int, object] = {}

    def call(i: int) -> None:
        got[i] = rpc.call({"type": "echo", "value": i})["value"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert got == {i: i for i in range(20)}


def test_a_refused_connection_is_a_definite_failure():
    rpc = RpcClient(("127.0.0.1", free_port()))
    with pytest.raises(ConnectFailed) as e:
        rpc.call({"type": "echo"})
    assert e.value.definite is True
    assert e.value.reply()["error"] == "unavailable"


def test_a_reply_that_does_not_come_in_time_is_an_indefinite_timeout(echo_server):
    rpc = RpcClient(echo_server.address)
    # no wall-time bound (a loaded machine stretches any): a call that did not honour its
    # 0.2 s would get the reply at 1 s and not raise
    with pytest.raises(RpcTimeout) as e:
        rpc.call({"type": "sleep", "seconds": 1.0}, timeout=0.2)
    assert e.value.definite is False and e.value.reply()["definite"] is False
    # the late reply must not be taken for the answer to the next call
    assert rpc.call({"type": "echo", "value": "next"})["value"] == "next"


def test_a_connection_closed_after_sending_is_indefinite():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def accept_read_close() -> None:
        conn, _ = listener.accept()
        conn.recv(1000)
        conn.close()

    t = threading.Thread(target=accept_read_close)
    t.start()
    with pytest.raises(ConnectionLost) as e:
        RpcClient(listener.getsockname()).call({"type": "x"})
    assert e.value.definite is False
    t.join(2)
    listener.close()


def test_a_handler_that_raises_gets_an_indefinite_internal_error_and_the_line_goes_on(
    echo_server,
):
    rpc = RpcClient(echo_server.address)
    reply = rpc.call({"type": "boom"})
    assert reply["ok"] is False and reply["error"] == "internal" and reply["definite"] is False
    assert rpc.call({"type": "echo", "value": 1})["value"] == 1


def test_a_line_that_is_not_json_gets_a_bad_request_reply(echo_server):
    with socket.create_connection(echo_server.address, timeout=2) as s:
        s.sendall(b"this is not json\n")
        line = s.makefile("rb").readline()
    assert b'"error":"bad-request"' in line and b'"definite":true' in line


def test_error_replies_know_which_codes_are_definite():
    assert error_reply("not-leader")["definite"] is True
    assert error_reply("timeout")["definite"] is False
    assert error_reply("something-new")["definite"] is False
    assert error_reply("x", definite=True, leader="n2")["leader"] == "n2"


def test_a_record_log_recovers_every_record_and_drops_a_torn_tail(tmp_path):
    path = str(tmp_path / "log.bin")
    log = RecordLog(path)
    for i in range(10):
        log.append({"i": i})
    log.sync()
    log.close()
    size = os.path.getsize(path)
    for cut in (1, 5, 9):  # a header cut short, a payload cut short, one byte missing
        with open(path, "ab") as fh:
            fh.write(b'\x00\x00\x00\x20\x12\x34\x56\x78{"i":'[:cut])
        again = RecordLog(path)
        assert again.records == [{"i": i} for i in range(10)]
        assert again.torn_bytes == cut
        again.close()
        assert os.path.getsize(path) == size  # the torn bytes are gone from the file


def test_a_record_log_stops_at_a_record_whose_checksum_fails(tmp_path):
    path = str(tmp_path / "log.bin")
    log = RecordLog(path)
    log.append("a", "b", "c")
    log.sync()
    log.close()
    data = bytearray(open(path, "rb").read())
    data[-2] ^= 0xFF  # corrupt the last record's payload
    open(path, "wb").write(bytes(data))
    again = RecordLog(path)
    assert again.records == ["a", "b"]
    again.append("d")
    again.sync()
    again.close()
    assert RecordLog(path).records == ["a", "b", "d"]


def test_truncate_drops_records_durably_and_appends_go_on_after_it(tmp_path):
    path = str(tmp_path / "log.bin")
    log = RecordLog(path)
    log.append(*range(6))
    log.truncate(3)
    assert len(log) == 3 and log.synced <= 3
    log.append(10, 11)
    log.sync_upto(5)
    assert log.synced == 5
    log.close()
    assert RecordLog(path).records == [0, 1, 2, 10, 11]


def test_concurrent_syncs_cover_every_record(tmp_path):
    log = RecordLog(str(tmp_path / "log.bin"))

    def writer(k: int) -> None:
        for i in range(50):
            n = log.append([k, i])
            log.sync_upto(n)
            assert log.synced >= n

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert log.synced == len(log) == 400


def test_an_unsynced_log_keeps_writes_in_its_buffer_until_closed(tmp_path):
    path = str(tmp_path / "log.bin")
    log = RecordLog(path, sync=False)
    log.append(*range(100))
    log.sync()
    assert os.path.getsize(path) == 0  # a kill -9 now would lose all of it
    log.close()
    assert RecordLog(path).records == list(range(100))


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = str(tmp_path / "state.json")
    assert read_json(path, {"none": True}) == {"none": True}
    atomic_write_json(path, {"term": 1})
    atomic_write_json(path, {"term": 2, "voted_for": "n1"})
    assert read_json(path) == {"term": 2, "voted_for": "n1"}
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_the_shared_arguments_parse_into_a_node_config():
    cfg = parse_args(
        [
            "--id",
            "n2",
            "--listen",
            "0.0.0.0:7001",
            "--peers",
            "n1=10.0.0.1:7000,n2=10.0.0.2:7001",
            "--data",
            "/d",
            "--bug",
            "b",
            "--bug",
            "c",
        ],
        prog="x",
        bugs={"b": "", "c": "", "d": ""},
    )
    assert cfg.id == "n2" and cfg.listen == ("0.0.0.0", 7001)
    assert cfg.peers == {"n1": ("10.0.0.1", 7000), "n2": ("10.0.0.2", 7001)}
    assert cfg.others == {"n1": ("10.0.0.1", 7000)}
    assert cfg.bugs == {"b", "c"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bug", "nope"], "unknown bug(s) nope; this pattern has: b"),
        (["--peers", "n1"], "expected NAME=HOST:PORT"),
        (["--peers", "n1=host"], "expected HOST:PORT"),
        (["--peers", "n1=h:1,n1=h:2"], "'n1' is listed twice"),
    ],
)
def test_bad_arguments_exit_with_a_message_naming_the_option(args, message, capsys):
    base = ["--id", "n1", "--listen", "127.0.0.1:1", "--data", "/d"]
    with pytest.raises(SystemExit) as e:
        parse_args(base + args, prog="x", bugs={"b": ""})
    assert e.value.code == 2
    assert message in capsys.readouterr().err
