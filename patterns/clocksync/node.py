"""One clock-synchronization node: reads its peers' hardware clocks the way Cristian's
algorithm does, keeps the interval a majority of sources agree on (Marzullo), and reports its
time with the error bound it can vouch for.

Concurrency: one lock (``mu``) guards the synchronization state (``adj``, the bound, the
reference readings). A round asks every peer at once (a thread per peer, through a shared
pool) without holding ``mu``; it takes ``mu`` only to install its result.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from .._runtime import Node, NodeConfig, RpcError, ok_reply

__all__ = [
    "BUGS",
    "STEP_SLACK",
    "ClockSyncNode",
    "Reading",
    "Sample",
    "agreed_interval",
    "read_clocks",
]

log = logging.getLogger("clocksync")

BUGS: dict[str, str] = {
    "ignore-rtt": "a peer's reading is taken as the time at the moment its reply arrives: no "
    "half round trip added to it, and none in the bound, so a slow network leaves the clock "
    "behind by the reply's delay with a bound that does not cover it",
    "single-source": "each round trusts the first peer to answer, alone, with no cross-check "
    "against the others: a peer whose clock was bumped or drifts hands its error on",
    "no-drift-bound": "the bound does not grow with the time since the last round: it only "
    "holds while the node's own clock runs at the true rate",
}

#: (peer, its hardware clock, the error it claims, the round trip, this node's hardware and
#: monotonic clocks when the reply came), all in seconds
Reading = tuple[str, float, float, float, float, float]

#: slack for reading the hardware and the monotonic clock together, and the smallest step of
#: the hardware clock this node can tell from its drift (seconds)
STEP_SLACK = 0.002


@dataclass(frozen=True)
class Sample:
    """What one source says about the true time, as an interval of the offset ``true time -
    this node's hardware clock`` at the end of a round: ``[lo, hi]`` seconds."""

    source: str
    lo: float
    hi: float
    rtt: float = 0.0


def read_clocks() -> tuple[float, float]:
    """(hardware clock, monotonic clock), read together: retried (a few times) while a
    preemption between the two readings makes them more than 0.5 ms apart."""
    for _ in range(5):
        m0 = time.monotonic()
        h = time.time()
        m1 = time.monotonic()
        if m1 - m0 < 0.0005:
            break
    return h, (m0 + m1) / 2


def agreed_interval(samples: list[Sample], quorum: int) -> tuple[float, float] | None:
    """The smallest interval holding every point that at least ``quorum`` samples cover (the
    hull of the points a majority agrees on, after Marzullo); None when no point is covered
    by ``quorum`` samples. The true time is in it whenever at least ``quorum`` sources tell
    the truth, whatever the others say."""
    edges = sorted([(s.lo, 0) for s in samples] + [(s.hi, 1) for s in samples])
    count = 0
    lo: float | None = None
    hi: float | None = None
    for x, kind in edges:  # at one x, openings (0) come before closings (1)
        if kind == 0:
            count += 1
            if count >= quorum and lo is None:
                lo = x
        else:
            if count >= quorum:
                hi = x
            count -= 1
    if lo is None or hi is None:
        return None
    return lo, hi


class ClockSyncNode(Node):
    """A node that synchronizes its clock with its peers (see the package docstring)."""

    log_name = "clocksync"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        sync: float = 0.25,
        max_drift_ppm: int = 100_000,
        clock_error_us: int = 1000,
        rpc_timeout: float = 1.0,
        max_rtt: float = 2.0,
    ) -> None:
        super().__init__(cfg)
        self.sync = sync
        self.rho = max_drift_ppm / 1e6
        self.eps = clock_error_us / 1e6
        self.max_rtt = max_rtt
        self.quorum = len(self.members) // 2 + 1
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=min(rpc_timeout, 0.5))
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.others)))
        self.mu = threading.Lock()
        self.synced = False
        self.why = "not synchronized yet"
        self.adj = 0.0  # the clock is hardware + adj
        self.bound0 = 0.0  # the bound at the reference point
        self.m_ref = 0.0  # monotonic clock at the reference point
        self.hm_ref = 0.0  # hardware - monotonic at the reference point (steps show there)
        self.last: dict[str, Any] = {}  # what the last round that synchronized used
        self.rounds = 0
        self.steps = 0
        self.handlers.update(now=self._now, clock_read=self._clock_read)
        self.every("sync", sync, self.sync_round)
        log.info(
            "sync every %.3f s, max drift %.0f ppm, clock error %.0f us, quorum %d of %d, bugs: %s",
            sync,
            max_drift_ppm,
            clock_error_us,
            self.quorum,
            len(self.members),
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        report = self.report()
        report.update(bugs=sorted(self.bugs), rounds=self.rounds, steps=self.steps)
        return report

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- what the node says --------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """This node's time and the bound it vouches for, or that it vouches for none."""
        h, m = read_clocks()
        with self.mu:
            self._check_step(h, m)
            out: dict[str, Any] = {"id": self.id, "hw_us": _us(h), "synced": self.synced}
            if not self.synced:
                out["why"] = self.why
                return out
            age = m - self.m_ref
            grow = 0.0 if "no-drift-bound" in self.bugs else self.rho * age
            bound = self.bound0 + grow + STEP_SLACK
            out.update(
                time_us=_us(h + self.adj),
                bound_us=math.ceil(bound * 1e6),
                age_ms=round(age * 1000, 3),
                sync=self.last,
            )
            return out

    def _now(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return ok_reply(self.report())

    def _clock_read(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """A peer asks for this node's hardware clock and the error it claims for it."""
        return ok_reply({"id": self.id, "hw_us": _us(time.time()), "error_us": _us(self.eps)})

    def _check_step(self, h: float, m: float) -> None:
        """A hardware clock that moved against the monotonic one by more than the maximum
        drift allows has stepped: the offset learnt before is void (mu held)."""
        if not self.synced:
            return
        moved = (h - m) - self.hm_ref
        if abs(moved) > self.rho * (m - self.m_ref) + STEP_SLACK:
            self.synced = False
            self.steps += 1
            self.why = f"the hardware clock stepped by {moved * 1000:+.3f} ms"
            log.info("%s: unsynchronized until the next round", self.why)

    # -- synchronization -------------------------------------------------------------------

    def sync_round(self) -> None:
        """Read every peer's clock at once, then take the interval a majority agrees on."""
        self.rounds += 1
        h0, m0 = read_clocks()
        futures = [self.pool.submit(self._ask, p) for p in self.others]
        samples: list[Sample] = []
        arrivals: list[Reading] = []
        for fu in as_completed(futures):
            got = fu.result()
            if got is not None:
                arrivals.append(got)
        h1, m1 = read_clocks()
        if abs((h1 - m1) - (h0 - m0)) > self.rho * (m1 - m0) + STEP_SLACK:
            log.info("the hardware clock stepped during the round: round discarded")
            return
        # each reply's own reading too: one taken across a step (seen by one thread and not
        # yet by another) would place that peer's clock by the unstepped one
        for _, _, _, _, h_at, m_at in arrivals:
            if abs((h1 - m1) - (h_at - m_at)) > self.rho * (m1 - m_at) + STEP_SLACK:
                log.info("the hardware clock moved within the round: round discarded")
                return
        for peer, hw_p, err_p, rtt, h_at, m_at in arrivals:
            # true time - hardware clock, when the reply arrived: the peer read its clock
            # somewhere within the round trip (Cristian); widened by what this node's own
            # clock may drift from then to the end of the round
            if "ignore-rtt" in self.bugs:
                mid, half = hw_p - h_at, err_p
            else:
                mid, half = hw_p + rtt / 2 - h_at, rtt / 2 + err_p
            half += self.rho * (m1 - m_at)
            samples.append(Sample(peer, mid - half, mid + half, rtt))
        if "single-source" in self.bugs:
            if not samples:
                return
            chosen = [samples[0]]  # the first peer to answer, trusted alone
            interval: tuple[float, float] | None = (chosen[0].lo, chosen[0].hi)
        else:
            chosen = [*samples, Sample(self.id, -self.eps, self.eps)]
            interval = agreed_interval(chosen, self.quorum)
        if interval is None:
            log.debug("no interval agreed by %d of %d sources", self.quorum, len(chosen))
            return
        lo, hi = interval
        sources = sorted(s.source for s in chosen if s.lo <= hi and s.hi >= lo)
        with self.mu:
            self.adj = (lo + hi) / 2
            self.bound0 = (hi - lo) / 2
            self.m_ref = m1
            self.hm_ref = h1 - m1
            self.synced = True
            self.why = ""
            self.last = {
                "sources": sources,
                "answered": len(samples),
                "rtt_ms": round(max((s.rtt for s in samples), default=0.0) * 1000, 3),
            }

    def _ask(self, peer: str) -> Reading | None:
        """(peer, its hardware clock, its claimed error, the round trip, this node's hardware
        and monotonic clocks at the reply), or None when it did not answer in time."""
        _, m0 = read_clocks()
        try:
            reply = self.rpcs[peer].call({"type": "clock_read"})
        except RpcError as e:
            log.debug("clock_read to %s: %s", peer, e)
            return None
        h1, m1 = read_clocks()
        value = reply.get("value") if reply.get("ok") else None
        rtt = m1 - m0
        if not isinstance(value, dict) or rtt > self.max_rtt:
            return None
        hw, err = value.get("hw_us"), value.get("error_us")
        if not isinstance(hw, int) or not isinstance(err, int):
            return None
        return peer, hw / 1e6, err / 1e6, rtt, h1, m1


def _us(seconds: float) -> int:
    return int(round(seconds * 1e6))
