"""Hold packets from an NFQUEUE and let each go after a delay: the delay fault where the kernel
has no netem (``nemesis.delay`` runs it inside a node's network namespace).

Standard library only, and a program of its own: the nemesis copies this file to a node (or
runs it from the checkout on a node that shares this machine's filesystem) and starts it as
``python3 delayq.py --queue 4242 --latency-ms 100 --jitter-ms 20``. An iptables rule of the
nemesis (``-j NFQUEUE --queue-num 4242 --queue-bypass``) sends it the packets to delay.

How it talks to the kernel: raw netlink (``AF_NETLINK``, ``NETLINK_NETFILTER``), as
libnetfilter_queue does, without it (no node needs a package): bind the queue, ask for the
packets' metadata only (``NFQNL_COPY_META``: the id is all a delay needs, so no payload is
copied), then for each packet draw its delay and, once it is due, send the verdict
``NF_ACCEPT`` for its id. By default packets leave in the order they came (a packet drawn a
short delay waits for the one before it): with independent draws, jitter reorders packets,
and TCP takes reordering for loss (measured: a 20 MB transfer under 50 ± 10 ms went from
0.06 s to more than 120 s). ``--reorder`` lets them overtake, as netem does with jitter.

The queue fails open (``NFQA_CFG_F_FAIL_OPEN``: a packet that finds the queue full passes
undelayed rather than being dropped), and the rule has ``--queue-bypass`` (packets pass when
no program is bound). On SIGTERM or SIGINT the program lets every held packet go at once and
exits 0, so stopping it loses nothing. One thread, one socket: it waits for the next packet or
the next due verdict, whichever comes first.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

__all__ = ["DelayQueue", "Nfqueue", "main"]

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_CFG_F_GSO = 4
NF_ACCEPT = 1

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_ATTR = struct.Struct("=HH")  # nlattr: len, type


class Nfqueue:
    """One netfilter queue, bound through a raw netlink socket (root or CAP_NET_ADMIN, in the
    network namespace whose packets it takes). Raises OSError naming what failed."""

    def __init__(self, queue: int, *, maxlen: int = 65536, rcvbuf: int = 8 << 20) -> None:
        self.queue = queue
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self._seq = 0
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        # a full receive buffer drops packets (the queue fails open), it is not an error
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        cmd = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        self._config("bind the queue", _attr(NFQA_CFG_CMD, cmd))
        params = struct.pack(">IB", 0, NFQNL_COPY_META)
        flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO
        self._config(
            "configure the queue",
            _attr(NFQA_CFG_PARAMS, params)
            + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", maxlen))
            + _attr(NFQA_CFG_FLAGS, struct.pack(">I", flags))
            + _attr(NFQA_CFG_MASK, struct.pack(">I", flags)),
        )

    def fileno(self) -> int:
        return self.sock.fileno()

    def packets(self) -> list[int]:
        """The ids of the packets queued since the last call (one receive; may be none)."""
        try:
            data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        ids: list[int] = []
        for mtype, payload in _messages(data):
            if mtype == NLMSG_ERROR:
                code = struct.unpack_from("=i", payload)[0]
                if code:
                    print(f"delayq: netlink error {os.strerror(-code)}", file=sys.stderr)
                continue
            if mtype != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                continue
            for atype, value in _attrs(payload[4:]):
                if atype == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from(">I", value)[0])
        return ids

    def accept(self, ids: list[int]) -> None:
        """Let the packets ``ids`` go (one datagram for them all)."""
        out = b"".join(self._message(NFQNL_MSG_VERDICT, _verdict(i), flags=0) for i in ids)
        if out:
            self.sock.send(out)

    def close(self) -> None:
        try:
            cmd = struct.pack("=BBH", NFQNL_CFG_CMD_UNBIND, 0, socket.htons(socket.AF_INET))
            self.sock.send(self._message(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_CMD, cmd), flags=0))
        except OSError:
            pass
        self.sock.close()

    def _config(self, what: str, attrs: bytes) -> None:
        self.sock.send(self._message(NFQNL_MSG_CONFIG, attrs, flags=NLM_F_ACK))
        self.sock.settimeout(5)
        try:
            while True:
                for mtype, payload in _messages(self.sock.recv(65536)):
                    if mtype == NLMSG_ERROR:
                        code = struct.unpack_from("=i", payload)[0]
                        if code:
                            raise OSError(
                                -code, f"cannot {what} {self.queue}: {os.strerror(-code)}"
                            )
                        return
        finally:
            self.sock.settimeout(None)

    def _message(self, kind: int, attrs: bytes, *, flags: int) -> bytes:
        self._seq += 1
        nfgen = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", self.queue)
        body = nfgen + attrs
        mtype = (NFNL_SUBSYS_QUEUE << 8) | kind
        return _HDR.pack(_HDR.size + len(body), mtype, NLM_F_REQUEST | flags, self._seq, 0) + body


class DelayQueue:
    """Packets held until due: ``add`` draws each one's delay, ``due`` takes those whose time
    has come. ``latency`` and ``jitter`` in seconds; ``distribution`` "uniform" (latency ±
    jitter) or "normal" (mean latency, standard deviation jitter), never below zero. Without
    ``reorder`` no packet is due before one that came earlier."""

    def __init__(
        self,
        latency: float,
        jitter: float,
        distribution: str,
        rng: random.Random,
        *,
        reorder: bool = False,
    ) -> None:
        if distribution not in ("uniform", "normal"):
            raise ValueError(f"distribution: expected uniform or normal, got {distribution!r}")
        self.latency, self.jitter, self.distribution = latency, jitter, distribution
        self.rng, self.reorder = rng, reorder
        self.heap: list[tuple[float, int]] = []
        self.last = 0.0  # the latest due time given (without reorder, none is earlier)
        self.held = 0  # packets ever held
        self.most = 0  # the most held at once

    def delay(self) -> float:
        if self.distribution == "normal":
            d = self.rng.gauss(self.latency, self.jitter)
        else:
            d = self.latency + self.rng.uniform(-self.jitter, self.jitter)
        return max(0.0, d)

    def add(self, ids: list[int], now: float) -> None:
        for i in ids:
            due = now + self.delay()
            if not self.reorder:
                due = self.last = max(due, self.last)
            heapq.heappush(self.heap, (due, i))
        self.held += len(ids)
        self.most = max(self.most, len(self.heap))

    def due(self, now: float) -> list[int]:
        out = []
        while self.heap and self.heap[0][0] <= now:
            out.append(heapq.heappop(self.heap)[1])
        return out

    def drain(self) -> list[int]:
        out = [i for _, i in self.heap]
        self.heap.clear()
        return out

    def next_due(self) -> float | None:
        return self.heap[0][0] if self.heap else None


def run(queue: Nfqueue, held: DelayQueue, stop: list[bool]) -> None:
    """Until ``stop[0]``: take packets, hold them, let each go when due; then let all go."""
    while not stop[0]:
        now = time.monotonic()
        ready = held.due(now)
        if ready:
            queue.accept(ready)
        nxt = held.next_due()
        wait = 0.5 if nxt is None else max(0.0, nxt - time.monotonic())
        try:
            readable, _, _ = select.select([queue], [], [], min(wait, 0.5))
        except InterruptedError:
            continue
        if readable:
            held.add(queue.packets(), time.monotonic())
    queue.accept(held.drain())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="delayq", description=__doc__.split("\n\n")[0])
    p.add_argument("--queue", type=int, required=True, help="the NFQUEUE number to bind")
    p.add_argument("--latency-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--distribution", choices=("uniform", "normal"), default="uniform")
    p.add_argument("--reorder", action="store_true", help="let a packet overtake another")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    stop = [False]

    def on_signal(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        queue = Nfqueue(a.queue)
    except OSError as e:
        print(f"delayq: {e}", file=sys.stderr)
        return 3 if e.errno in (errno.EPERM, errno.EACCES) else 4
    held = DelayQueue(
        a.latency_ms / 1000,
        a.jitter_ms / 1000,
        a.distribution,
        random.Random(a.seed),
        reorder=a.reorder,
    )
    print(
        f"delayq: queue {a.queue} bound; {a.latency_ms:g} ms ± {a.jitter_ms:g} ms "
        f"({a.distribution}{', reordering' if a.reorder else ''})",
        file=sys.stderr,
        flush=True,
    )
    try:
        run(queue, held, stop)
    finally:
        queue.close()
    print(
        f"delayq: stopped; {held.held} packets held, at most {held.most} at once", file=sys.stderr
    )
    return 0


def _attr(kind: int, value: bytes) -> bytes:
    raw = _ATTR.pack(_ATTR.size + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _verdict(packet_id: int) -> bytes:
    return _attr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))


def _messages(data: bytes) -> list[tuple[int, bytes]]:
    """(type, payload) of each netlink message in ``data``."""
    out = []
    off = 0
    while off + _HDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        out.append((mtype, data[off + _HDR.size : off + length]))
        off += (length + 3) & ~3
    return out


def _attrs(data: bytes) -> list[tuple[int, bytes]]:
    """(type, value) of each attribute in ``data``."""
    out = []
    off = 0
    while off + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, off)
        if length < _ATTR.size:
            break
        out.append((kind & 0x7FFF, data[off + _ATTR.size : off + length]))
        off += (length + 3) & ~3
    return out


if __name__ == "__main__":
    sys.exit(main())
