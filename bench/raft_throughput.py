"""Sustained write throughput of the reference Raft store on one host (loopback).

Starts N nodes of ``patterns/raft`` on 127.0.0.1, lets C client threads write as fast as they
can for S seconds (each thread on its own connection, spread round-robin over the nodes, so
most requests are forwarded to the leader, as in a test), and prints ops/s and latencies.

    python bench/raft_throughput.py [--nodes 5] [--clients 10] [--seconds 10]
                                    [--to-leader] [--bug NAME]

Figures depend on the machine: every node, the clients and the fsyncs share its CPUs and disk.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from patterns._runtime import RpcClient, RpcError  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--to-leader", action="store_true", help="every client talks to the leader")
    p.add_argument("--bug", action="append", default=[])
    p.add_argument(
        "--faketime", action="store_true",
        help="run the nodes under libfaketime, as the clock nemesis does (clusters.clock)",
    )  # fmt: skip
    args = p.parse_args()

    names = [f"n{i + 1}" for i in range(args.nodes)]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    peers = ",".join(f"{n}=127.0.0.1:{ports[n]}" for n in names)
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as tmp:
        procs = []
        env = dict(os.environ)
        if args.faketime:
            env.update(_faketime_env(tmp))
        try:
            for n in names:
                argv = [sys.executable, "-m", "patterns.raft", "--id", n,
                        "--listen", f"127.0.0.1:{ports[n]}", "--peers", peers,
                        "--data", f"{tmp}/{n}", "--log-level", "warning"]  # fmt: skip
                for b in args.bug:
                    argv += ["--bug", b]
                log = open(f"{tmp}/{n}.log", "wb")
                procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log, env=env,
                                              start_new_session=True))  # fmt: skip
            leader = _wait_leader(names, ports)
            targets = [leader] * args.clients if args.to_leader else [
                names[i % len(names)] for i in range(args.clients)
            ]  # fmt: skip
            _run(args, targets, ports, leader)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _run(args: argparse.Namespace, targets: list[str], ports: dict[str, int], leader: str) -> None:
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in targets]
    errors = [0] * len(targets)

    def client(i: int) -> None:
        rpc = RpcClient(("127.0.0.1", ports[targets[i]]), timeout=2.0)
        v = 0
        while not stop.is_set():
            v += 1
            t0 = time.perf_counter()
            try:
                ok = rpc.call({"type": "write", "key": f"k{i % 8}", "value": v})["ok"]
            except RpcError:
                ok = False
            if ok:
                latencies[i].append(time.perf_counter() - t0)
            else:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(targets))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = sorted(x for xs in latencies for x in xs)
    via = "the leader" if args.to_leader else "all nodes (followers forward)"
    bugs = ", ".join(args.bug) or "none"
    print(f"{len(ports)} nodes, {len(targets)} clients via {via}, {elapsed:.1f}s, "
          f"bugs: {bugs} (leader {leader}, cpus {os.cpu_count()})")  # fmt: skip
    print(f"  writes acknowledged: {len(lat)}  ({len(lat) / elapsed:.0f} ops/s), "
          f"errors: {sum(errors)}")  # fmt: skip
    if lat:
        q = statistics.quantiles(lat, n=100)
        print(f"  latency ms: p50 {q[49] * 1000:.1f}  p90 {q[89] * 1000:.1f}  "
              f"p99 {q[98] * 1000:.1f}  max {lat[-1] * 1000:.1f}")  # fmt: skip


def _faketime_env(tmp: str) -> dict[str, str]:
    from clusters.clock import faketime_env

    class _Here:  # just enough of a Node for clusters.clock, on this host
        name, address, workdir = "bench", "127.0.0.1", tmp

        def exec(self, argv, *, timeout=30.0, check=True):  # noqa: ANN001, ANN202
            from clusters.base import Completed

            r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
            return Completed(tuple(argv), r.returncode, r.stdout, r.stderr)

        def put(self, local, remote):  # noqa: ANN001, ANN202
            subprocess.run(["cp", "-r", str(local), str(remote)], check=True)

    return faketime_env(_Here())  # type: ignore[arg-type]


def _wait_leader(names: list[str], ports: dict[str, int], timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in names:
            try:
                st = RpcClient(("127.0.0.1", ports[n]), timeout=0.5).call({"type": "status"})
            except RpcError:
                continue
            if st["value"]["role"] == "leader" and st["value"]["commit"] > 0:
                return n
        time.sleep(0.05)
    raise SystemExit("no leader elected")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


if __name__ == "__main__":
    main()
