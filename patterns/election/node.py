"""One election node: terms, majority votes, heartbeats, and leader actions confirmed by a
majority.

Concurrency: one lock (``mu``) guards the node's state; nothing waits on the network while
holding it. Threads: the server's (a thread per connection), a ticker (election timeouts and
heartbeats), a candidate thread per candidacy, and a small pool for calls to peers.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from .._runtime import (
    NOT_LEADER,
    Node,
    NodeConfig,
    atomic_write_json,
    error_reply,
    ok_reply,
    read_json,
)

__all__ = ["BUGS", "ElectionNode"]

log = logging.getLogger("election")

BUGS: dict[str, str] = {
    "double-count": "a candidate counts every vote it is granted, so a voter asked again "
    "counts twice",
    "minority-quorum": "the quorum is len(nodes) // 2, without the + 1: two of five elect a "
    "leader and confirm its actions",
    "no-confirm": "a leader acts on its own belief that it leads, without a majority "
    "confirming its term",
}

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"
NOT_CONFIRMED = "not-confirmed"


class ElectionNode(Node):
    """A node of the election (see the package docstring)."""

    log_name = "election"
    tick_every = 0.01

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        heartbeat: float = 0.05,
        election: tuple[float, float] = (0.3, 0.6),
        retry: float = 0.1,
        rpc_timeout: float = 0.2,
    ) -> None:
        super().__init__(cfg)
        n = len(cfg.peers)
        # the bug "minority-quorum": the + 1 is missing
        self.quorum = n // 2 if "minority-quorum" in self.bugs else n // 2 + 1
        self.heartbeat = heartbeat
        self.election = election
        self.retry = retry
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.pool = ThreadPoolExecutor(
            max_workers=4 * len(self.others) + 2, thread_name_prefix="call"
        )

        os.makedirs(cfg.data, exist_ok=True)
        self.state_path = os.path.join(cfg.data, "state.json")
        state = read_json(self.state_path, {}) or {}
        self.term: int = int(state.get("term", 0))
        self.voted_for: str | None = state.get("voted_for")
        self.led_terms: list[int] = [int(t) for t in state.get("led_terms", [])]

        self.mu = threading.Lock()
        self.role = FOLLOWER
        self.leader: str | None = None
        self.election_deadline = 0.0
        self.next_heartbeat = 0.0
        self._reset_timer()
        self.handlers.update(
            act=lambda _msg: self._act(),
            heartbeat=lambda msg: ok_reply(self._on_heartbeat(msg)),
            request_vote=lambda msg: ok_reply(self._on_request_vote(msg)),
        )
        log.info(
            "recovered term %d, voted for %s, led terms %s; quorum %d of %d; bugs: %s",
            self.term,
            self.voted_for,
            self.led_terms,
            self.quorum,
            n,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            return {
                "id": self.id,
                "role": self.role,
                "term": self.term,
                "leader": self.leader,
                "voted_for": self.voted_for,
                "led_terms": list(self.led_terms),
                "bugs": sorted(self.bugs),
            }

    # -- acting as leader ----------------------------------------------------------------

    def _act(self) -> dict[str, Any]:
        """Act as leader: only once a majority has confirmed, after the request arrived,
        that this node's term is still current (no node of that majority has moved on to a
        later term, so no later leader has acted yet)."""
        with self.mu:
            if self.role != LEADER:
                return error_reply(
                    NOT_LEADER,
                    f"{self.id} is not the leader (term {self.term}, leader {self.leader})",
                    definite=True,
                    leader=self.leader,
                )
            term = self.term
        if "no-confirm" not in self.bugs:
            acks = self._confirm(term)
            if acks < self.quorum:
                return error_reply(
                    NOT_CONFIRMED,
                    f"only {acks} of the {self.quorum} nodes needed confirmed term {term}",
                    definite=True,
                )
        with self.mu:
            if self.role != LEADER or self.term != term:
                return error_reply(
                    NOT_LEADER,
                    f"{self.id} stopped leading term {term}",
                    definite=True,
                    leader=self.leader,
                )
        return ok_reply({"term": term, "leader": self.id})

    def _confirm(self, term: int) -> int:
        """How many nodes (this one included) acknowledge ``term`` as current now."""
        msg = {"type": "heartbeat", "term": term, "leader": self.id}
        futures = [self.pool.submit(self.ask, p, msg) for p in self.others]
        acks = 1
        pending: set[Future[Any]] = set(futures)
        deadline = time.monotonic() + self.rpcs[self.others[0]].timeout + 0.05 if self.others else 0
        while pending and acks < self.quorum:
            done, pending = wait(
                pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not done:
                break
            for f in done:
                reply = f.result()
                if reply is None:
                    continue
                if reply.get("ack"):
                    acks += 1
                else:
                    self._saw_term(int(reply.get("term", 0)))
        return acks

    # -- heartbeats ------------------------------------------------------------------------

    def _on_heartbeat(self, msg: dict[str, Any]) -> dict[str, Any]:
        term, leader = int(msg["term"]), str(msg["leader"])
        with self.mu:
            if term < self.term:
                return {"term": self.term, "ack": False}
            if term > self.term:
                self._adopt(term)
            if self.role != FOLLOWER:
                log.info("%s -> follower of %s in term %d", self.role, leader, term)
                self.role = FOLLOWER
            self.leader = leader
            self._reset_timer()
            return {"term": self.term, "ack": True}

    def _send_heartbeats(self, term: int) -> None:
        msg = {"type": "heartbeat", "term": term, "leader": self.id}
        for p in self.others:
            fut = self.pool.submit(self.ask, p, msg)
            fut.add_done_callback(self._heartbeat_reply)

    def _heartbeat_reply(self, fut: Future[Any]) -> None:
        reply = fut.result()
        if reply is not None and not reply.get("ack"):
            self._saw_term(int(reply.get("term", 0)))

    # -- elections -----------------------------------------------------------------------

    def _on_request_vote(self, msg: dict[str, Any]) -> dict[str, Any]:
        term, candidate = int(msg["term"]), str(msg["candidate"])
        with self.mu:
            if term > self.term:
                self._adopt(term)
            granted = term == self.term and self.voted_for in (None, candidate)
            if granted:
                if self.voted_for != candidate:
                    self.voted_for = candidate
                    self.persist()
                self._reset_timer()
            return {"term": self.term, "granted": granted}

    def _campaign(self, term: int) -> None:
        """Ask for votes in ``term`` until elected, beaten, or the candidacy is over; a peer
        that has not answered is asked again every ``retry`` seconds."""
        msg = {"type": "request_vote", "term": term, "candidate": self.id}
        voters = {self.id}
        count = 1  # what the bug "double-count" counts instead of the voters
        answered: set[str] = set()
        flying: dict[Future[Any], str] = {}
        while not self.stopping.is_set():
            with self.mu:
                if self.role != CANDIDATE or self.term != term:
                    return
            busy = set(flying.values())
            for p in self.others:
                # the bug asks everyone again, voters included, and counts every grant
                again = "double-count" in self.bugs or p not in answered
                if again and p not in busy:
                    flying[self.pool.submit(self.ask, p, msg)] = p
            if not flying:
                time.sleep(self.retry)
                continue
            done, _ = wait(list(flying), timeout=self.retry)
            for f in done:
                peer = flying.pop(f)
                reply = f.result()
                if reply is None:
                    continue
                answered.add(peer)
                with self.mu:
                    if int(reply.get("term", 0)) > self.term:
                        self._adopt(int(reply["term"]))
                        return
                    if self.role != CANDIDATE or self.term != term:
                        return
                    if reply.get("granted"):
                        voters.add(peer)
                        count += 1
                    votes = count if "double-count" in self.bugs else len(voters)
                    if votes >= self.quorum:
                        self._become_leader(sorted(voters), votes)
                        return
            if done and not flying:
                time.sleep(self.retry)  # everyone answered, no majority yet: ask again later

    def _become_leader(self, voters: list[str], votes: int) -> None:
        self.role = LEADER
        self.leader = self.id
        self.led_terms.append(self.term)
        self.persist()
        self.next_heartbeat = 0.0
        log.info("leader of term %d (%d votes, from %s)", self.term, votes, ", ".join(voters))

    # -- state (mu held) ---------------------------------------------------------------------

    def tick(self) -> None:
        """A leader's heartbeat when one is due; a follower's candidacy on its timeout."""
        beat: int | None = None
        with self.mu:
            now = time.monotonic()
            if self.role == LEADER:
                if now >= self.next_heartbeat:
                    self.next_heartbeat = now + self.heartbeat
                    beat = self.term
            elif now >= self.election_deadline:
                self.term += 1
                self.role = CANDIDATE
                self.voted_for = self.id
                self.leader = None
                self.persist()
                self._reset_timer()
                log.info("election timeout: candidate in term %d", self.term)
                if self.quorum <= 1:
                    self._become_leader([self.id], 1)
                else:
                    threading.Thread(
                        target=self._campaign, args=(self.term,), name="campaign", daemon=True
                    ).start()
        if beat is not None:
            self._send_heartbeats(beat)

    def _saw_term(self, term: int) -> None:
        with self.mu:
            if term > self.term:
                self._adopt(term)

    def _adopt(self, term: int) -> None:
        """A later term exists: follow it (durably), forgetting the vote of the old one."""
        if self.role == LEADER:
            log.info("leader of term %d -> follower: saw term %d", self.term, term)
        self.term = term
        self.voted_for = None
        self.role = FOLLOWER
        self.leader = None
        self.persist()
        self._reset_timer()

    def persist(self) -> None:
        """Make (term, voted_for, led_terms) durable (mu held)."""
        atomic_write_json(
            self.state_path,
            {"term": self.term, "voted_for": self.voted_for, "led_terms": self.led_terms},
        )

    def _reset_timer(self) -> None:
        self.election_deadline = time.monotonic() + random.uniform(*self.election)
