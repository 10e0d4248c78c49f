"""One Raft node: elections, replication, the key/value state machine and client requests.

Concurrency: one lock (``mu``) guards all Raft state. Nothing blocks on the network while
holding it. Persistence that Raft requires before answering an RPC (term and vote, a
follower's new entries) is done under the lock; a leader's own appends are written under
the lock and fsynced outside it, so concurrent client writes share fsyncs (the leader counts
itself towards a majority only for entries it has synced).

Threads: one per connection (the server), a ticker (election timeouts), one replicator per
peer while leading (heartbeats, batches of entries, leadership confirmation for reads), and
a short-lived one per vote request.

Patterns built on this node (``patterns/lock``, ``leaderfollower``, ``queue``) subclass
``RaftNode`` and use its public extension points: ``handlers`` (add request kinds),
``route`` (run a request on the leader, or forward it there), ``lead_write`` (append a
command and wait until it is applied), ``execute`` (their state machine), ``on_leading``
(this node became leader), and, with ``mu`` held, ``append_local``, ``advance_commit``,
``wait_until``, ``not_leader``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    NOT_LEADER,
    REGISTER_OPS,
    TIMEOUT,
    Node,
    NodeConfig,
    RpcError,
    error_reply,
    forward,
    ok_reply,
    register_problem,
    request_deadline,
    same_value,
)
from .flags import WATCH_BUGS
from .membership import Config, commit_index, config_entry, quorum
from .storage import Storage
from .watch import Watches

__all__ = ["BUGS", "CANDIDATE", "FOLLOWER", "LEADER", "LEADER_WAIT", "RaftNode"]

log = logging.getLogger("raft")

BUGS: dict[str, str] = {
    "stale-read": "the leader serves reads from local state without confirming it still leads",
    "early-ack": "a write/cas is acknowledged once in the leader's own log, before a majority",
    "no-fsync": "term, vote and log are written but never fsynced: a kill keeps them, a power "
    "cut of one node (the lose-unfsynced fault, suites/raft-lose-unfsynced.yaml) loses "
    "acknowledged entries and its vote",
    "vote-twice": "a node votes for any up-to-date candidate of its term, even after voting",
    "count-new-member-early": "a new member is a voter at once, counted as holding every entry "
    "the leader has sent it, before it has caught up or acknowledged them",
    **WATCH_BUGS,
}

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

#: the most entries one AppendEntries carries
MAX_BATCH = 256
#: how long a request waits for a leader to become known before answering not-leader
LEADER_WAIT = 0.5
#: the store's own commands, whose reply carries their revision (the entry's index)
STORE_OPS = ("write", "cas", "txn")
#: a write whose log entry was replaced: it may still be committed from another node's log
SUPERSEDED = "superseded"
#: a membership change refused because another is not committed yet (definite)
CHANGE_IN_PROGRESS = "change-in-progress"
#: how long an add-server or remove-server may take (a new member catches up first)
ADMIN_TIMEOUT = 5.0
#: at most this many catch-up rounds for a new member (the Raft thesis, 4.2.1)
CATCH_UP_ROUNDS = 10


class _Waiter:
    """A client write waiting for its entry (term, index) to be applied."""

    __slots__ = ("index", "result", "term")

    def __init__(self, term: int, index: int) -> None:
        self.term = term
        self.index = index
        self.result: dict[str, Any] | None = None


class RaftNode(Node):
    """A Raft node serving the key/value client protocol and the Raft RPCs on one port."""

    log_name = "raft"
    tick_every = 0.01

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        heartbeat: float = 0.05,
        election: tuple[float, float] = (0.3, 0.6),
        request_timeout: float = 1.0,
    ) -> None:
        super().__init__(cfg)
        self.heartbeat = heartbeat
        self.election = election
        self.request_timeout = request_timeout
        self.rpc_timeout = max(0.2, min(1.0, election[0]))
        self.rpcs = self.peer_clients(timeout=self.rpc_timeout, connect_timeout=self.rpc_timeout)

        self.storage = Storage(cfg.data, fsync="no-fsync" not in self.bugs)
        state = self.storage.load_state()
        self.term: int = state["term"]
        self.voted_for: str | None = state["voted_for"]
        self.led_terms: list[int] = state["led_terms"]
        #: entry i (from 1) is ``log[i - 1]``: ``(term, command)``
        self.log: list[tuple[int, Any]] = self.storage.entries
        #: who votes: the latest configuration entry in the log, else every --peers member
        #: (none for a node whose data directory says it joins: it waits to be added); see
        #: ``membership`` and ``storage.JOIN_FILE``
        self.config = Config([] if self.storage.joining else self.members)
        self.config.appended(1, self.log)

        self.mu = threading.Lock()
        #: notified on any change a request may wait for (commit, role, term, leader, acks)
        self.changed = threading.Condition(self.mu)
        #: wakes the replicators (new entries, a read to confirm, stepping down)
        self.wake = threading.Condition(self.mu)

        self.role = FOLLOWER
        self.leader: str | None = None
        self.commit = 0
        self.applied = 0
        self.kv: dict[Any, Any] = {}
        self.waiters: dict[int, _Waiter] = {}
        self.votes: set[str] = set()
        self.election_deadline = 0.0
        self._reset_election_timer()
        # leader state, valid while role == LEADER
        self.term_start = 0
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.read_seq = 0
        self.sent_seq: dict[str, int] = {}
        self.acked_seq: dict[str, int] = {}
        #: nodes being caught up before they are added as voters (non-voting learners)
        self.learners: set[str] = set()
        #: members this leader added in its term (the count-new-member-early bug)
        self.fresh: set[str] = set()
        #: peer -> the token of its replicator thread in this term
        self._replicating: dict[str, object] = {}

        self._rivals: set[tuple[int, str]] = set()  # other leaders of our term, logged once
        #: the applied changes as events, and the watches on them (``watch.py``)
        self.watches = Watches(self)
        self.handlers.update(
            append_entries=self._on_append_entries,
            request_vote=self._on_request_vote,
            **dict.fromkeys((*REGISTER_OPS, "txn", "revision"), self._on_client),
            **{"add-server": self._on_add_server, "remove-server": self._on_remove_server},
            **self.watches.handlers(),
        )
        log.info(
            "recovered term %d, voted_for %s, %d log entries (%d torn bytes dropped), "
            "led terms %s, voters %s; bugs: %s",
            self.term,
            self.voted_for,
            len(self.log),
            self.storage.torn_bytes,
            self.led_terms,
            ",".join(self.config.voters) or "none (waiting to be added)",
            ", ".join(sorted(self.bugs)) or "none",
        )

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving and close the storage (a clean shutdown flushes everything)."""
        with self.mu:
            self.stopping.set()
            self.wake.notify_all()
            self.changed.notify_all()
        super().stop()

    def close(self) -> None:
        with self.mu:
            self.storage.close()

    def tick(self) -> None:
        """Start an election when no leader was heard from within the election timeout (a
        node that is not a voter in its configuration never does)."""
        with self.mu:
            if (
                self.role != LEADER
                and time.monotonic() >= self.election_deadline
                and self.id in self.config
            ):
                self._start_election()

    def persist(self) -> None:
        """Make (term, voted_for, led_terms) durable (mu held)."""
        self.storage.save_state(self.term, self.voted_for, self.led_terms)

    def status(self) -> dict[str, Any]:
        with self.mu:
            return {
                "id": self.id,
                "role": self.role,
                "term": self.term,
                "leader": self.leader,
                "commit": self.commit,
                "applied": self.applied,
                "last_index": len(self.log),
                "led_terms": list(self.led_terms),
                "voters": list(self.config.voters),
                "config_index": self.config.index,
                "learners": sorted(self.learners) if self.role == LEADER else [],
                "bugs": sorted(self.bugs),
            }

    # -- client requests ---------------------------------------------------------------

    def route(
        self,
        msg: dict[str, Any],
        lead: Callable[[float], dict[str, Any]],
        *,
        read: bool = False,
        budget: float | None = None,
    ) -> dict[str, Any]:
        """Run ``lead(deadline)`` here if this node leads, else forward ``msg`` to the
        leader (one hop: a forwarded request is never forwarded again) and relay its reply.
        Waits up to ``LEADER_WAIT`` for a leader to be known. A forwarding failure after
        sending is indefinite, unless ``read`` (a read changes nothing). ``budget``: the
        request's time (seconds), ``request_timeout`` by default."""
        deadline = request_deadline(msg, self.request_timeout if budget is None else budget)
        with self.mu:
            self.wait_until(
                lambda: self.role == LEADER or self.leader is not None,
                min(deadline, time.monotonic() + LEADER_WAIT),
            )
            leading, leader = self.role == LEADER, self.leader
        if leading:
            return lead(deadline)
        if leader is None or msg.get("forwarded"):
            return self.not_leader(leader)
        try:
            return forward(self.rpcs[leader], msg, self.id, deadline)
        except RpcError as e:
            # a read changes nothing, so a failed read is always definite
            definite = True if read else e.definite
            return e.reply(definite=definite, leader=leader)

    def _on_client(self, msg: dict[str, Any]) -> dict[str, Any]:
        t = msg["type"]
        if t == "txn":
            problem = _txn_problem(msg)
        else:
            problem = None if t == "revision" else register_problem(t, msg)
        if problem:
            return error_reply(BAD_REQUEST, problem)
        if t == "read":
            return self.route(
                msg, lambda deadline: self._lead_read(msg["key"], deadline), read=True
            )
        if t == "revision":
            return self.route(msg, self._lead_revision, read=True)
        return self.route(msg, lambda deadline: self.lead_write(_command(t, msg), deadline))

    def not_leader(self, leader: str | None) -> dict[str, Any]:
        """The ``not-leader`` reply (definite), naming ``leader`` if one is known."""
        if leader is None:
            text = f"{self.id} knows no leader"
        else:
            text = f"{self.id} is not the leader; the leader is {leader}"
        return error_reply(NOT_LEADER, text, definite=True, leader=leader)

    def _lead_read(self, key: Any, deadline: float) -> dict[str, Any]:
        """ReadIndex: once an entry of this term is committed, note the commit index,
        confirm leadership with a heartbeat round acknowledged by a majority (sent after the
        read arrived), wait until that index is applied, and read the local state."""
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            if "stale-read" in self.bugs:
                return ok_reply(self.kv.get(key))
            index = self._read_index(deadline)
            return index if isinstance(index, dict) else ok_reply(self.kv.get(key))

    def _lead_revision(self, deadline: float) -> dict[str, Any]:
        """The ``revision`` request on the leader: its read index, by ReadIndex as a read."""
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            index = self._read_index(deadline)
            return index if isinstance(index, dict) else ok_reply(index)

    def _read_index(self, deadline: float) -> int | dict[str, Any]:
        """ReadIndex (mu held, on the leader): the applied commit index a read may answer
        from once leadership is confirmed, or the error reply."""
        term = self.term

        def leading() -> bool:
            return self.role == LEADER and self.term == term

        committed = self.wait_until(
            lambda: not leading() or self.commit >= self.term_start, deadline
        )
        if not committed:
            return error_reply(TIMEOUT, "no entry of this term committed yet", definite=True)
        if not leading():
            return self.not_leader(self.leader)
        read_index = self.commit
        self.read_seq += 1
        need = self.read_seq
        self.wake.notify_all()
        if not self.wait_until(lambda: not leading() or self._confirmed(need), deadline):
            return error_reply(
                TIMEOUT, "leadership not confirmed by a majority in time", definite=True
            )
        if not leading():
            return self.not_leader(self.leader)
        # apply is synchronous with commit, so this holds already; kept as the invariant
        if not self.wait_until(lambda: self.applied >= read_index, deadline):
            return error_reply(TIMEOUT, "read index not applied in time", definite=True)
        return read_index

    def lead_write(self, cmd: dict[str, Any], deadline: float) -> dict[str, Any]:
        """On the leader: append ``cmd``, make it durable here, and wait until it is
        committed and applied (its ``execute`` reply) or ``deadline`` (``timeout``)."""
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            term = self.term
            index = self.append_local([(term, cmd)])
            waiter = _Waiter(term, index)
            self.waiters[index] = waiter
            self.wake.notify_all()
        self.storage.sync(index)  # outside the lock: concurrent writes share one fsync
        with self.mu:
            if self.role == LEADER and self.term == term:
                self.advance_commit()
            self.wait_until(lambda: waiter.result is not None, deadline)
            if waiter.result is None:
                if self.waiters.get(index) is waiter:
                    del self.waiters[index]
                return error_reply(
                    TIMEOUT,
                    f"entry {index} of term {term} not committed in time",
                    definite=False,
                    leader=self.leader,
                )
            return waiter.result

    # -- membership changes (one server at a time; see ``membership``) ---------------------

    def _on_add_server(self, msg: dict[str, Any]) -> dict[str, Any]:
        node = msg.get("node")
        if node not in self.cfg.peers:
            return error_reply(
                BAD_REQUEST, f"add-server: {node!r} is not in --peers ({', '.join(self.members)})"
            )
        return self.route(
            msg, lambda deadline: self._lead_add(node, deadline), budget=ADMIN_TIMEOUT
        )

    def _on_remove_server(self, msg: dict[str, Any]) -> dict[str, Any]:
        node = msg.get("node")
        if not isinstance(node, str):
            return error_reply(BAD_REQUEST, f"remove-server needs 'node', got {node!r}")
        return self.route(
            msg, lambda deadline: self._lead_remove(node, deadline), budget=ADMIN_TIMEOUT
        )

    def _lead_add(self, node: str, deadline: float) -> dict[str, Any]:
        """On the leader: catch ``node`` up as a learner (rounds of replication, until one
        takes less than an election timeout), then append the configuration with it as a
        voter and wait until that is committed. Already a voter: done."""
        with self.mu:
            refused = self._change_refused(deadline)
            if refused is not None:
                return refused
            if node in self.config:
                return self._config_reply()
            term = self.term
            if "count-new-member-early" in self.bugs:
                self.fresh.add(node)  # the bug: a voter at once, no catching up
            else:
                self._forget(node)  # an earlier member of that name: its progress is stale
                self.learners.add(node)
                self._ensure_replicators()
                caught = self._catch_up(node, term, deadline)
                self.learners.discard(node)
                if not caught:
                    if self.role != LEADER or self.term != term:
                        return self.not_leader(self.leader)
                    return error_reply(
                        TIMEOUT, f"{node} did not catch up in time; not added", definite=True
                    )
            return self._change([*self.config.voters, node], term, deadline)

    def _lead_remove(self, node: str, deadline: float) -> dict[str, Any]:
        """On the leader: append the configuration without ``node`` and wait until it is
        committed (a leader removing itself steps down then). Not a voter: done."""
        with self.mu:
            refused = self._change_refused(deadline)
            if refused is not None:
                return refused
            if node not in self.config:
                return self._config_reply()
            if self.config.voters == [node]:
                return error_reply(BAD_REQUEST, f"{node} is the last voter; it cannot be removed")
            self.fresh.discard(node)
            return self._change([v for v in self.config.voters if v != node], self.term, deadline)

    def _change_refused(self, deadline: float) -> dict[str, Any] | None:
        """Why no change can start now (mu held), after waiting until an entry of this term
        and the last configuration entry are committed; None when one can."""
        term = self.term
        if self.role != LEADER:
            return self.not_leader(self.leader)
        ready = self.wait_until(
            lambda: (
                self.role != LEADER
                or self.term != term
                or (self.commit >= self.term_start and self.commit >= self.config.index)
            ),
            deadline,
        )
        if self.role != LEADER or self.term != term:
            return self.not_leader(self.leader)
        if not ready:
            return error_reply(
                CHANGE_IN_PROGRESS,
                f"the configuration of entry {self.config.index} (or this term's first entry) "
                "is not committed yet",
                definite=True,
            )
        if self.learners:
            return error_reply(
                CHANGE_IN_PROGRESS,
                f"{', '.join(sorted(self.learners))} is being caught up to be added",
                definite=True,
            )
        return None

    def _catch_up(self, node: str, term: int, deadline: float) -> bool:
        """Wait (mu held) until learner ``node`` holds the log as it was at the start of a
        round, in rounds, until a round takes less than the shortest election timeout."""
        for _ in range(CATCH_UP_ROUNDS):
            target, started = len(self.log), time.monotonic()

            def caught(target: int = target) -> bool:
                if self.role != LEADER or self.term != term:
                    return True
                return self.match_index.get(node, 0) >= target

            if not self.wait_until(caught, deadline):
                return False
            if self.role != LEADER or self.term != term:
                return False
            if time.monotonic() - started < self.election[0]:
                return True
        return False

    def _change(self, voters: list[str], term: int, deadline: float) -> dict[str, Any]:
        """Append the configuration ``voters`` (in force at once), make it durable here and
        wait until it is committed (mu held)."""
        index = self.append_local([(term, config_entry(voters))])
        log.info("configuration change at entry %d: voters %s", index, ", ".join(voters))
        self.storage.sync(index)
        self.wake.notify_all()
        self.advance_commit()
        self.wait_until(
            lambda: self.commit >= index or self._term_at(index) != term or self.term != term,
            deadline,
        )
        if self.commit >= index and self._term_at(index) == term:
            return self._config_reply()
        return error_reply(
            TIMEOUT,
            f"the configuration of entry {index} (term {term}) was not committed in time",
            definite=False,
            leader=self.leader,
        )

    def _config_reply(self) -> dict[str, Any]:
        return ok_reply({"voters": list(self.config.voters), "index": self.config.index})

    # -- RequestVote -------------------------------------------------------------------

    def _on_request_vote(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.mu:
            term, candidate = int(req["term"]), str(req["candidate"])
            if term > self.term:
                self._become_follower(term)
            granted = False
            if term == self.term:
                mine = (self._term_at(len(self.log)), len(self.log))
                up_to_date = (int(req["last_term"]), int(req["last_index"])) >= mine
                free = self.voted_for in (None, candidate)
                if "vote-twice" in self.bugs:
                    free = True  # the bug: "already voted this term" is never checked
                if up_to_date and free:
                    granted = True
                    if self.voted_for != candidate:
                        self.voted_for = candidate
                        self.persist()
                    self._reset_election_timer()
            log.debug("vote for %s in term %d: %s", candidate, term, granted)
            return {"ok": True, "term": self.term, "granted": granted}

    def _start_election(self) -> None:
        self.term += 1
        self.role = CANDIDATE
        self.voted_for = self.id
        self.leader = None
        self.persist()
        self._reset_election_timer()
        self.votes = {self.id}
        term = self.term
        log.info("election timeout: candidate in term %d", term)
        self.changed.notify_all()
        if quorum(self.config.voters, self.votes):
            self._become_leader()
            return
        req = {
            "type": "request_vote",
            "term": term,
            "candidate": self.id,
            "last_index": len(self.log),
            "last_term": self._term_at(len(self.log)),
        }
        for p in self.config.voters:
            if p == self.id:
                continue
            threading.Thread(
                target=self._ask_vote, args=(p, term, req), name=f"vote-{p}", daemon=True
            ).start()

    def _ask_vote(self, peer: str, term: int, req: dict[str, Any]) -> None:
        try:
            reply = self.rpcs[peer].call(req)
        except RpcError as e:
            log.debug("vote request to %s: %s", peer, e)
            return
        with self.mu:
            their = int(reply.get("term", 0))
            if their > self.term:
                self._become_follower(their)
                return
            if self.role != CANDIDATE or self.term != term or not reply.get("granted"):
                return
            self.votes.add(peer)
            if quorum(self.config.voters, self.votes):
                self._become_leader()

    # -- AppendEntries -----------------------------------------------------------------

    def _on_append_entries(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.mu:
            term, leader = int(req["term"]), str(req["leader"])
            if term < self.term:
                return {"ok": True, "term": self.term, "success": False}
            if term > self.term or self.role == CANDIDATE:
                self._become_follower(term)
            elif self.role == LEADER:
                # two leaders in one term: impossible unless votes were granted twice
                if (term, leader) not in self._rivals:
                    self._rivals.add((term, leader))
                    log.error("append_entries from %s, also leader of my term %d", leader, term)
                return {"ok": True, "term": self.term, "success": False}
            if self.leader != leader:
                log.info("following %s in term %d", leader, term)
                self.leader = leader
                self.changed.notify_all()
            self._reset_election_timer()

            prev, prev_term = int(req["prev_index"]), int(req["prev_term"])
            if prev > len(self.log):
                return {
                    "ok": True,
                    "term": self.term,
                    "success": False,
                    "conflict_index": len(self.log) + 1,
                }
            if prev > 0 and self.log[prev - 1][0] != prev_term:
                bad = self.log[prev - 1][0]
                first = prev
                while first > 1 and self.log[first - 2][0] == bad:
                    first -= 1
                return {"ok": True, "term": self.term, "success": False, "conflict_index": first}

            entries = [(int(t), c) for t, c in req["entries"]]
            new: list[tuple[int, Any]] = []
            for k, entry in enumerate(entries):
                index = prev + 1 + k
                if index <= len(self.log):
                    if self.log[index - 1][0] == entry[0]:
                        continue
                    self._truncate_from(index)
                new = entries[k:]
                break
            if new:
                self.append_local(new)
                self.storage.sync()  # durable before we answer
            last_new = prev + len(entries)
            leader_commit = int(req["commit"])
            if leader_commit > self.commit:
                self.commit = max(self.commit, min(leader_commit, last_new))
                self._apply()
            return {"ok": True, "term": self.term, "success": True, "match_index": last_new}

    def _replicate(self, peer: str, term: int, token: object) -> None:
        """Keep ``peer``'s log in step with ours while we lead in ``term`` and it is a voter
        or a learner: one request in flight, a heartbeat every ``heartbeat`` seconds, sooner
        when there are new entries or a read waiting for leadership to be confirmed."""
        rpc = self.rpcs[peer]
        last_sent = 0.0
        retry_at = 0.0
        while True:
            with self.mu:
                while True:
                    if (
                        self.stopping.is_set()
                        or self.role != LEADER
                        or self.term != term
                        or self._replicating.get(peer) is not token
                    ):
                        return
                    if peer not in self._peers():  # removed: a later add starts afresh
                        self._forget(peer)
                        return
                    now = time.monotonic()
                    if now < retry_at:
                        self.wake.wait(retry_at - now)
                        continue
                    if (
                        now - last_sent >= self.heartbeat
                        or self.next_index[peer] <= len(self.log)
                        or self.read_seq > self.sent_seq[peer]
                    ):
                        break
                    self.wake.wait(last_sent + self.heartbeat - now)
                prev = self.next_index[peer] - 1
                entries = self.log[prev : prev + MAX_BATCH]
                seq = self.sent_seq[peer] = self.read_seq
                req = {
                    "type": "append_entries",
                    "term": term,
                    "leader": self.id,
                    "prev_index": prev,
                    "prev_term": self._term_at(prev),
                    "entries": entries,
                    "commit": self.commit,
                }
                early = "count-new-member-early" in self.bugs and peer in self.fresh
                if early:  # the bug: what is sent to a new member counts as acknowledged
                    self.match_index[peer] = max(self.match_index[peer], prev + len(entries))
                    self.advance_commit()
            last_sent = time.monotonic()
            try:
                reply = rpc.call(req)
            except RpcError as e:
                log.debug("append_entries to %s: %s", peer, e)
                retry_at = time.monotonic() + self.heartbeat
                continue
            if not reply.get("ok"):
                log.warning("append_entries to %s failed: %s", peer, reply.get("message"))
                retry_at = time.monotonic() + self.heartbeat
                continue
            with self.mu:
                their = int(reply.get("term", 0))
                if their > self.term:
                    self._become_follower(their)
                    return
                if (
                    self.role != LEADER
                    or self.term != term
                    or self._replicating.get(peer) is not token
                ):
                    return
                self.acked_seq[peer] = max(self.acked_seq[peer], seq)
                self.changed.notify_all()
                if reply.get("success"):
                    match = prev + len(entries)
                    self.match_index[peer] = max(self.match_index[peer], match)
                    self.next_index[peer] = max(self.next_index[peer], match + 1)
                    self.advance_commit()
                else:
                    hint = reply.get("conflict_index")
                    back = int(hint) if isinstance(hint, int) else prev
                    floor = 1 if early else self.match_index[peer] + 1
                    self.next_index[peer] = max(floor, min(prev, back), 1)

    # -- state transitions (all with mu held) -------------------------------------------

    def _become_follower(self, term: int) -> None:
        if term > self.term:
            self.term = term
            self.voted_for = None
            self.leader = None
            self.persist()
        if self.role != FOLLOWER:
            log.info("%s -> follower in term %d", self.role, self.term)
            if self.role == LEADER:
                self.leader = None
                self._reset_election_timer()
            self.role = FOLLOWER
        self.changed.notify_all()
        self.wake.notify_all()

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader = self.id
        self.led_terms.append(self.term)
        self.persist()
        log.info("leader of term %d (votes from %s)", self.term, ", ".join(sorted(self.votes)))
        self.next_index, self.match_index, self.sent_seq, self.acked_seq = {}, {}, {}, {}
        self.learners, self.fresh, self._replicating = set(), set(), {}
        self._ensure_replicators()
        # a no-op of the new term: committing it commits every earlier entry, and lets
        # ReadIndex know the commit index is current
        self.term_start = self.append_local([(self.term, {"op": "noop"})])
        self.storage.sync(self.term_start)
        self.advance_commit()
        self.changed.notify_all()
        self.on_leading()

    def on_leading(self) -> None:
        """Called (mu held) once this node has become leader of its term, its no-op entry
        appended: a subclass resets what an earlier leader's term left (nothing here)."""

    def advance_commit(self) -> None:
        """Commit the highest index a majority of the voters holds (the leader counts itself
        only if it is one), if its entry is of the current term. A leader removed from the
        configuration steps down once that configuration is committed."""
        own = min(self.storage.synced, len(self.log))
        if "early-ack" in self.bugs:
            n = own  # the bug: the leader's own durable copy is taken for a majority
        else:
            n = commit_index(self.config.voters, {**self.match_index, self.id: own})
        if n > self.commit and self._term_at(n) == self.term:
            self.commit = n
            self._apply()
        if self.role == LEADER and self.id not in self.config and self.commit >= self.config.index:
            log.info("removed from the configuration (entry %d): stepping down", self.config.index)
            self._become_follower(self.term)

    def _apply(self) -> None:
        while self.applied < self.commit:
            index = self.applied + 1
            term, cmd = self.log[index - 1]
            result = self.execute(cmd)
            self.applied = index
            self.watches.applied(index, cmd, result)
            if result.get("ok") is True and cmd.get("op") in STORE_OPS:
                result = _at(result, index)
            waiter = self.waiters.pop(index, None)
            if waiter is not None:
                waiter.result = result if waiter.term == term else _superseded(waiter)
        self.changed.notify_all()

    def execute(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Apply committed command ``cmd`` to the state machine (mu held, entries in log
        order, on every node); the reply for the client that wrote it. A subclass handles
        its own ops and passes the rest here (a leader's no-op included)."""
        op = cmd.get("op")
        if op == "write":
            self.kv[cmd["key"]] = cmd["value"]
            return ok_reply(None)
        if op == "cas":
            current = self.kv.get(cmd["key"])
            if not same_value(current, cmd["from"]):
                return error_reply(
                    "cas-mismatch", f"expected {cmd['from']!r}, found {current!r}", definite=True
                )
            self.kv[cmd["key"]] = cmd["to"]
            return ok_reply(None)
        if op == "txn":
            for key, value in cmd["puts"]:
                self.kv[key] = value
            return ok_reply(None)
        return ok_reply(None)  # noop

    def _truncate_from(self, index: int) -> None:
        if index <= self.commit:
            # cannot happen in a correct Raft; the seeded bugs can get here
            log.error("dropping committed entries %d..%d", index, self.commit)
            self.commit = self.applied = index - 1
            self.watches.dropped(index)
        log.info("dropping conflicting entries %d..%d", index, len(self.log))
        del self.log[index - 1 :]
        self.storage.truncate(index - 1)
        self.config.truncated(self.log)
        for i in [i for i in self.waiters if i >= index]:
            waiter = self.waiters.pop(i)
            waiter.result = _superseded(waiter)
        self.changed.notify_all()

    def append_local(self, entries: list[tuple[int, Any]]) -> int:
        """Append ``(term, command)`` entries to this node's log (mu held; not yet durable:
        ``storage.sync`` it); returns the index of the last. A configuration entry among them
        takes effect at once."""
        first = len(self.log) + 1
        self.log.extend(entries)
        self.storage.append(entries)
        self.config.appended(first, entries)
        if self.role == LEADER:
            self._ensure_replicators()
        return len(self.log)

    def _reset_election_timer(self) -> None:
        self.election_deadline = time.monotonic() + random.uniform(*self.election)

    def _term_at(self, index: int) -> int:
        return self.log[index - 1][0] if index > 0 else 0

    def _confirmed(self, need: int) -> bool:
        """A majority of the voters acknowledged heartbeat round ``need`` (the leader counts
        for itself if it is a voter)."""
        acked = {self.id, *(p for p, seq in self.acked_seq.items() if seq >= need)}
        return quorum(self.config.voters, acked)

    def _peers(self) -> set[str]:
        """Whom the leader replicates to: the voters and the learners, but itself."""
        return (set(self.config.voters) | self.learners) - {self.id}

    def _forget(self, peer: str) -> None:
        """Drop ``peer``'s replicator and progress (mu held): a replicator still running for
        it stops at its next turn, and one started later begins from scratch."""
        self._replicating.pop(peer, None)
        for progress in (self.next_index, self.match_index, self.sent_seq, self.acked_seq):
            progress.pop(peer, None)

    def _ensure_replicators(self) -> None:
        """Start a replicator for each peer that has none in this term (mu held, leading)."""
        last = len(self.log)
        for p in sorted(self._peers() - set(self._replicating)):
            self.next_index.setdefault(p, last + 1)
            self.match_index.setdefault(p, 0)
            self.sent_seq.setdefault(p, 0)
            self.acked_seq.setdefault(p, 0)
            token = self._replicating[p] = object()
            threading.Thread(
                target=self._replicate, args=(p, self.term, token), name=f"repl-{p}", daemon=True
            ).start()

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Wait on ``changed`` (mu held) until ``predicate`` or ``deadline``; its last value."""
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopping.is_set():
                return False
            self.changed.wait(remaining)
        return True


def _superseded(waiter: _Waiter) -> dict[str, Any]:
    # another leader's entry replaced ours here; ours may still be in some other node's log
    # and be committed from there by a later leader, so this is not definite
    return error_reply(
        SUPERSEDED,
        f"entry {waiter.index} of term {waiter.term} was replaced by another leader's entry",
        definite=False,
    )


def _at(reply: dict[str, Any], revision: int) -> dict[str, Any]:
    """``reply`` with the revision (log index) it is of: a change's entry, a read's index."""
    return {**reply, "revision": revision}


def _txn_problem(msg: dict[str, Any]) -> str | None:
    puts = msg.get("puts")
    if not isinstance(puts, list) or not puts:
        return f"a txn needs 'puts', a non-empty list of [key, value], got {puts!r}"
    for put in puts:
        if not isinstance(put, list) or len(put) != 2:
            return f"each of a txn's puts is [key, value], got {put!r}"
        problem = register_problem("write", {"key": put[0], "value": put[1]})
        if problem:
            return problem
    return None


def _command(t: str, msg: dict[str, Any]) -> dict[str, Any]:
    if t == "txn":
        return {"op": "txn", "puts": [list(p) for p in msg["puts"]]}
    if t == "write":
        return {"op": "write", "key": msg["key"], "value": msg["value"]}
    return {"op": "cas", "key": msg["key"], "from": msg["from"], "to": msg["to"]}
