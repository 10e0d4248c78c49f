"""One lease node: a grantor of promises, and a holder that competes for the resources'
leases and acts while it holds them.

Concurrency: one lock (``mu``) guards the grantor's promises and the holder's leases. The
holder's loop runs on its own thread; it asks every grantor at once (a thread per peer,
through the shared pool) and never holds ``mu`` while waiting on the network.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from .._runtime import (
    Node,
    NodeConfig,
    atomic_write_json,
    error_reply,
    ok_reply,
    read_json,
)

__all__ = ["BUGS", "LeaseNode"]

log = logging.getLogger("lease")

BUGS: dict[str, str] = {
    "local-clock": "the holder times its lease on its wall clock from when the grant arrived, "
    "with no margin, instead of on a monotonic clock from before it asked",
    "stale-flag": "the holder acts while a 'holding' flag is set, which its renewal loop "
    "clears only after two renewals in a row have failed",
}

NOT_HOLDER = "not-holder"


@dataclass
class Holding:
    """A lease this node holds (or believes it holds) on one resource."""

    epoch: int
    #: monotonic time before which the lease is certainly still ours (the correct check)
    deadline: float
    #: wall-clock time the ``local-clock`` bug compares with instead
    deadline_wall: float
    #: the ``stale-flag`` bug's flag
    flag: bool
    #: renewals left before this node stops renewing and lets the lease lapse (a tenure
    #: counted in renewals, not in time: a pause does not end it)
    renewals_left: int
    renewing: bool = True
    failures: int = 0


class LeaseNode(Node):
    """Grantor + holder for ``resources`` (see the package docstring)."""

    log_name = "lease"
    tick_name = "holder"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        resources: list[str],
        lease: float = 0.6,
        renew: float = 0.15,
        margin: float | None = None,
        tenure: tuple[float, float] = (0.5, 1.5),
        rpc_timeout: float = 0.2,
        seed: int | None = None,
    ) -> None:
        super().__init__(cfg)
        self.resources = list(resources)
        self.lease = lease
        self.renew = renew
        # what the holder gives up for clocks that run at different rates (2 %) and for the
        # time between reading the clock and acting on the answer (30 ms)
        self.margin = 0.03 + 0.02 * lease if margin is None else margin
        self.tenure = tenure
        self.rng = random.Random(seed)
        self.tick_every = renew
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.pool = ThreadPoolExecutor(
            max_workers=2 * len(self.others) + 2, thread_name_prefix="ask"
        )
        self.mu = threading.Lock()

        # grantor: promise per resource, and the highest epoch ever granted (durable)
        os.makedirs(cfg.data, exist_ok=True)
        self.epochs_path = os.path.join(cfg.data, "epochs.json")
        saved = read_json(self.epochs_path, {})
        self.max_epoch: dict[str, int] = {str(k): int(v) for k, v in saved.items()}
        self.promises: dict[str, tuple[str, int, float]] = {}  # resource -> holder, epoch, until
        # promises made before a crash are forgotten: grant nothing until they have expired
        self.quarantine_until = time.monotonic() + lease

        # holder
        self.held: dict[str, Holding] = {}
        self.known: dict[str, int] = dict(self.max_epoch)
        self.backoff_until: dict[str, float] = {}

        self.handlers.update(
            act=lambda _msg: self._act(),
            lease_request=lambda msg: ok_reply(self._grant(str(msg.get("holder")), _items(msg))),
            lease_release=self._on_release,
        )
        log.info(
            "lease %.0f ms, renew every %.0f ms, margin %.0f ms, resources %s, "
            "highest epochs %s; bugs: %s",
            lease * 1000,
            renew * 1000,
            self.margin * 1000,
            ",".join(self.resources),
            self.max_epoch,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            now = time.monotonic()
            return {
                "id": self.id,
                "holding": [[r, h.epoch] for r, h in sorted(self.held.items()) if self._valid(h)],
                "promises": {
                    r: [p[0], p[1]] for r, p in sorted(self.promises.items()) if p[2] > now
                },
                "max_epoch": dict(sorted(self.max_epoch.items())),
                "bugs": sorted(self.bugs),
            }

    # -- acting ----------------------------------------------------------------------------

    def _act(self) -> dict[str, Any]:
        """Act as the holder of every lease this node holds now: the reply names them."""
        with self.mu:
            acted = [[r, h.epoch] for r, h in sorted(self.held.items()) if self._valid(h)]
        if not acted:
            return error_reply(NOT_HOLDER, f"{self.id} holds no lease", definite=True)
        return ok_reply(acted)

    def _valid(self, h: Holding) -> bool:
        """Whether this node may act under ``h`` now (mu held)."""
        if "stale-flag" in self.bugs:
            return h.flag  # the bug: the flag, not the clock, says whether we hold it
        if "local-clock" in self.bugs:
            return time.time() < h.deadline_wall  # the bug: a wall clock can step back
        return time.monotonic() < h.deadline

    # -- grantor -------------------------------------------------------------------------

    def _grant(self, holder: str, items: list[tuple[str, int]]) -> dict[str, Any]:
        """Grant or renew each (resource, epoch) for ``holder``; refused ones come back with
        the highest epoch this grantor has granted for the resource."""
        granted: list[str] = []
        refused: dict[str, int] = {}
        changed = False
        with self.mu:
            now = time.monotonic()
            for r, epoch in items:
                promise = self.promises.get(r)
                if now < self.quarantine_until:
                    refused[r] = self.max_epoch.get(r, 0)
                elif promise is not None and now < promise[2]:
                    if promise[0] == holder and promise[1] == epoch:
                        self.promises[r] = (holder, epoch, now + self.lease)
                        granted.append(r)
                    else:
                        refused[r] = self.max_epoch.get(r, 0)
                elif epoch > self.max_epoch.get(r, 0):
                    self.promises[r] = (holder, epoch, now + self.lease)
                    self.max_epoch[r] = epoch
                    granted.append(r)
                    changed = True
                else:
                    refused[r] = self.max_epoch.get(r, 0)
            if changed:
                # durable before the grant is answered: an epoch is never granted twice,
                # not even across a crash
                atomic_write_json(self.epochs_path, self.max_epoch)
        return {"granted": granted, "refused": refused}

    def _on_release(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._release(str(msg.get("holder")), _items(msg))
        return ok_reply(None)

    def _release(self, holder: str, items: list[tuple[str, int]]) -> None:
        with self.mu:
            for r, epoch in items:
                p = self.promises.get(r)
                if p is not None and p[0] == holder and p[1] == epoch:
                    del self.promises[r]

    # -- holder --------------------------------------------------------------------------

    def tick_interval(self) -> float:
        return self.renew * self.rng.uniform(0.8, 1.2)

    def tick(self) -> None:
        """One round of the holder: renew what it holds, ask for some of what it does not."""
        renew: list[tuple[str, int]] = []
        want: list[tuple[str, int]] = []
        with self.mu:
            now = time.monotonic()
            for r, h in list(self.held.items()):
                if not self._valid(h):
                    del self.held[r]  # lapsed (by this node's own check, right or wrong)
                    continue
                if h.renewing and h.renewals_left <= 0:
                    # tenure over: stop renewing and let the lease lapse, so that others
                    # get their turn (the bug's flag goes down with it)
                    h.renewing = False
                    h.flag = False
                    self.backoff_until[r] = now + self.lease + self.rng.uniform(0.1, 0.5)
                    log.debug("%s: tenure over (epoch %d), letting it lapse", r, h.epoch)
                if h.renewing:
                    renew.append((r, h.epoch))
            for r in self.resources:
                if r in self.held or now < self.backoff_until.get(r, 0.0):
                    continue
                if self.rng.random() < 0.5:
                    want.append((r, self.known.get(r, 0) + 1))
        items = renew + want
        if not items:
            return
        sent = time.monotonic()
        replies = self._ask_all(items)
        received_wall = time.time()
        grants: dict[str, list[str]] = {r: [] for r, _ in items}
        with self.mu:
            for node, reply in replies.items():
                for r in reply.get("granted", []):
                    if r in grants:
                        grants[r].append(node)
                for r, e in reply.get("refused", {}).items():
                    self.known[r] = max(self.known.get(r, 0), int(e))
            release: list[tuple[str, int]] = []
            for r, epoch in items:
                current = self.held.get(r)
                if len(grants[r]) >= self.majority:
                    if current is None or current.epoch != epoch:
                        tenure = round(self.rng.uniform(*self.tenure) / self.renew)
                        current = Holding(epoch, 0.0, 0.0, True, max(1, tenure))
                        self.held[r] = current
                        log.info(
                            "%s: holding epoch %d (granted by %s)",
                            r,
                            epoch,
                            ",".join(sorted(grants[r])),
                        )
                    # every grantor of the majority promised it until at least sent + lease
                    current.deadline = sent + self.lease - self.margin
                    current.deadline_wall = received_wall + self.lease
                    current.flag, current.failures = True, 0
                    current.renewals_left -= 1
                    self.known[r] = max(self.known.get(r, 0), epoch)
                elif current is not None and current.epoch == epoch:
                    current.failures += 1
                    if current.failures >= 2 and current.flag:
                        current.flag = False
                        log.info("%s: two renewals failed, flag down", r)
                else:
                    release.append((r, epoch))
        if release:
            # a minority granted it: give those promises back so that someone can win
            granted_by = {n for r, _ in release for n in grants[r]}
            for node in granted_by:
                mine = [[r, e] for r, e in release if node in grants[r]]
                self._send(node, {"type": "lease_release", "holder": self.id, "items": mine})

    def _ask_all(self, items: list[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """Every grantor's answer to the request (this node's own included); the peers that
        do not answer in time are left out."""
        msg = {"type": "lease_request", "holder": self.id, "items": [list(i) for i in items]}
        futures = {p: self.pool.submit(self.ask, p, msg) for p in self.others}
        replies = {self.id: self._grant(self.id, items)}
        done, _ = wait(
            list(futures.values()),
            timeout=self.rpcs[self.others[0]].timeout + 0.1 if self.others else 0,
        )
        for p, f in futures.items():
            if f in done and f.result() is not None:
                replies[p] = f.result()
        return replies

    def _send(self, peer: str, msg: dict[str, Any]) -> None:
        if peer == self.id:
            self._release(self.id, _items(msg))
        else:
            self.pool.submit(self.ask, peer, msg)


def _items(msg: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for item in msg.get("items") or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], int):
            out.append((str(item[0]), int(item[1])))
    return out
