"""One PBFT replica as a state machine: messages in, messages out, no I/O and no clock.

``Replica.handle(event)`` takes one input (a peer's message, already authenticated, or a
local event: ``order`` a client request, ``timeout`` of a view, ``install`` a state fetched
for a stable checkpoint) and returns what to send, as ``(destination, message)`` pairs. The
replica's own broadcasts count for itself too: they are handled at once, inside ``handle``.
The node logs every input before acting on what ``handle`` returned, and a restarted node
replays the log through a new ``Replica`` (with the outputs dropped) to the same state: the
machine is deterministic in its inputs.

Quorums (n = 3f + 1): a request is *prepared* at a replica in view v once it accepted the
primary's PRE-PREPARE and 2f+1 replicas (the primary included) vouch for the same digest at
that sequence number; *committed* once 2f+1 COMMITs for it arrived; executed in sequence
order. Every ``checkpoint_every`` executions a replica sends a CHECKPOINT with the digest of
its state; 2f+1 matching make it *stable*: the log below it is dropped (``low`` moves up).

A view change (``VIEW-CHANGE`` carries the sender's recent checkpoints, its prepared
requests P and its pre-prepared digests Q) is decided by ``decide_new_view``, which both the
new primary and every backup run over the same view changes; with MACs a view change cannot
be forwarded with proof, so a backup accepts a NEW-VIEW only if it received each view change
the NEW-VIEW names itself and gets the same decision from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .auth import NULL, digest

__all__ = ["Replica", "Slot", "decide_new_view", "execute_op"]

#: a message to send: (destination replica id, message without from/to/mac)
Send = tuple[str, dict[str, Any]]

#: recent executed checkpoints a replica remembers (digests and snapshots)
KEEP_CHECKPOINTS = 4


@dataclass
class Slot:
    """What a replica knows of one sequence number."""

    #: view -> the digest it accepted a pre-prepare for in that view (Q)
    pre_prepared: dict[int, str] = field(default_factory=dict)
    #: digest -> request (None for the null request)
    requests: dict[str, Any] = field(default_factory=dict)
    #: (view, digest) -> replicas that sent a PREPARE for it
    prepares: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    #: (view, digest) -> replicas that sent a COMMIT for it
    commits: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    #: the highest (view, digest) prepared here (P)
    prepared: tuple[int, str] | None = None
    #: views in which this replica sent its COMMIT
    commit_sent: set[int] = field(default_factory=set)
    #: the digest committed here, once committed (and in which view)
    committed: tuple[int, str] | None = None


def execute_op(kv: dict[str, Any], op: dict[str, Any]) -> Any:
    """Apply a register op to ``kv`` (keys are the canonical JSON of the client's key) and
    return its result: a read's value (None: never written), ``"ok"`` for a write, whether a
    cas took."""
    key = digest_key(op.get("key"))
    f = op.get("f")
    if f == "read":
        return kv.get(key)
    if f == "write":
        kv[key] = op.get("value")
        return "ok"
    if f == "cas":
        if key in kv and _same(kv[key], op.get("from")):
            kv[key] = op.get("to")
            return True
        return False
    return None


def digest_key(key: Any) -> str:
    """A client's key as a dict key of the state (its canonical JSON)."""
    return json.dumps(key, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class Replica:
    """The PBFT state machine of replica ``id`` among ``members`` (see the module docstring).

    ``bugs``: ``quorum-2f`` (quorums of 2f), ``view-change-drops-prepared`` (a new view
    re-proposes nothing that was prepared).
    """

    def __init__(
        self,
        id: str,
        members: Iterable[str],
        *,
        checkpoint_every: int = 16,
        window: int = 256,
        bugs: Iterable[str] = (),
    ) -> None:
        self.id = id
        self.members = sorted(members)
        self.n = len(self.members)
        self.f = (self.n - 1) // 3
        self.bugs = frozenset(bugs)
        self.quorum = 2 * self.f if "quorum-2f" in self.bugs else 2 * self.f + 1
        self.checkpoint_every = checkpoint_every
        self.window = window
        self.view = 0
        #: between sending a VIEW-CHANGE for ``view`` and installing its NEW-VIEW
        self.changing = False
        self.slots: dict[int, Slot] = {}
        #: the last stable checkpoint (h): everything at or below it is dropped
        self.low = 0
        self.last_exec = 0
        #: the primary's last assigned sequence number
        self.next_seq = 0
        self.kv: dict[str, Any] = {}
        #: client -> [its last executed request id, that request's result]
        self.clients: dict[str, list[Any]] = {}
        #: seq -> replica -> digest, of CHECKPOINT messages above ``low``
        self.checkpoint_votes: dict[int, dict[str, str]] = {}
        #: seq -> (digest, snapshot) of this replica's own recent checkpoints
        self.snapshots: dict[int, tuple[str, dict[str, Any]]] = {0: self._snapshot()}
        #: view -> sender -> VIEW-CHANGE message
        self.view_changes: dict[int, dict[str, dict[str, Any]]] = {}
        #: a NEW-VIEW that names a view change not received yet: retried when one comes
        self.pending_new_view: dict[str, Any] | None = None
        #: a stable checkpoint this replica has not executed to: (seq, digest) to fetch
        self.fetch: tuple[int, str] | None = None
        #: (client, rid) -> seq, of requests the primary ordered in this view
        self.ordered: dict[tuple[str, int], int] = {}
        #: reports for the checker: [seq, view, digest, client, rid] per commit, and
        #: [seq, digest, client, rid, fresh] per execution (fresh: it changed the state)
        self.committed_log: list[list[Any]] = []
        self.executed_log: list[list[Any]] = []
        self.installs: list[int] = []
        #: the highest view each peer sent a PREPARE or COMMIT in (``_follow``)
        self.peer_views: dict[str, int] = {}
        #: this replica's VIEW-CHANGE for its current view, which the node sends again
        #: until the view is installed (a partition loses messages)
        self.my_view_change: dict[str, Any] | None = None
        #: (view, senders) of view changes this new primary could not decide a view from
        self.undecided: tuple[int, list[str]] | None = None
        self._out: list[Send] = []
        self._self_queue: list[dict[str, Any]] = []

    # -- who is who ----------------------------------------------------------------------

    def primary(self, view: int | None = None) -> str:
        """The primary of ``view`` (default: the current one): members in turn."""
        return self.members[(self.view if view is None else view) % self.n]

    @property
    def is_primary(self) -> bool:
        return not self.changing and self.primary() == self.id

    def executed(self, client: str, rid: int) -> Any:
        """``(True, result)`` once request ``rid`` of ``client`` is executed here (its result
        is known only while it is the client's last one), else ``(False, None)``."""
        last = self.clients.get(client)
        if last is None or last[0] < rid:
            return False, None
        return True, (last[1] if last[0] == rid else None)

    # -- input ---------------------------------------------------------------------------

    def handle(self, event: dict[str, Any]) -> list[Send]:
        """Handle one input; returns the messages to send (own broadcasts handled too)."""
        self._out = []
        self._dispatch(event)
        while self._self_queue:
            self._dispatch(self._self_queue.pop(0))
        out, self._out = self._out, []
        return out

    def _dispatch(self, m: dict[str, Any]) -> None:
        kind = m.get("kind")
        handler = getattr(self, "_on_" + str(kind).replace("-", "_"), None)
        if handler is not None:
            handler(m)

    def _broadcast(self, msg: dict[str, Any]) -> None:
        msg = {**msg, "from": self.id}
        for peer in self.members:
            if peer != self.id:
                self._out.append((peer, msg))
        self._self_queue.append(msg)

    def _slot(self, seq: int) -> Slot:
        slot = self.slots.get(seq)
        if slot is None:
            slot = self.slots[seq] = Slot()
        return slot

    def _in_window(self, seq: Any) -> TypeGuard[int]:
        return isinstance(seq, int) and self.low < seq <= self.low + self.window

    # -- normal operation ----------------------------------------------------------------

    def _on_order(self, m: dict[str, Any]) -> None:
        """A client request reached this replica: the primary gives it a sequence number."""
        req = m.get("request")
        if not _is_request(req) or not self.is_primary:
            return
        who = (req["client"], req["rid"])
        if self.executed(*who)[0] or who in self.ordered:
            return
        if self.next_seq + 1 > self.low + self.window:
            return  # the window is full until a checkpoint is stable: the client retries
        self.next_seq = max(self.next_seq, self.low) + 1
        self.ordered[who] = self.next_seq
        self._broadcast(
            {
                "kind": "pre-prepare",
                "view": self.view,
                "seq": self.next_seq,
                "digest": digest(req),
                "request": req,
            }
        )

    _on_request = _on_order  # a backup forwarded a client's request to the primary

    def _on_pre_prepare(self, m: dict[str, Any]) -> None:
        v, seq, d, req = m.get("view"), m.get("seq"), m.get("digest"), m.get("request")
        if v != self.view or self.changing or m.get("from") != self.primary(v):
            return
        if (
            not self._in_window(seq)
            or digest(req) != d
            or (req is not None and not _is_request(req))
        ):
            return
        self._accept_pre_prepare(v, seq, d, req)

    def _accept_pre_prepare(self, v: int, seq: int, d: str, req: Any) -> None:
        slot = self._slot(seq)
        if slot.pre_prepared.get(v, d) != d:
            return  # another digest was pre-prepared at seq in this view: the primary lies
        first = v not in slot.pre_prepared
        slot.pre_prepared[v] = d
        slot.requests[d] = req
        if req is not None:
            self.ordered.setdefault((req["client"], req["rid"]), seq)
        if first and self.primary(v) != self.id:
            self._broadcast({"kind": "prepare", "view": v, "seq": seq, "digest": d})
        self._check(seq)

    def _follow(self, sender: Any, v: Any) -> None:
        """f+1 replicas work in view w, a later one than this replica's (or the one it is
        changing to): at least one correct replica installed w, so this one adopts it. It
        missed the NEW-VIEW (cut off, or restarted), and the numbers that NEW-VIEW settled
        come back to it with the next stable checkpoint. The new primary itself never
        adopts its view this way: it must order after what its NEW-VIEW chose."""
        if not isinstance(v, int) or not isinstance(sender, str) or sender == self.id:
            return
        self.peer_views[sender] = max(v, self.peer_views.get(sender, -1))
        views = sorted(self.peer_views.values(), reverse=True)
        if len(views) <= self.f:
            return
        w = views[self.f]
        later = w > self.view or (w == self.view and self.changing)
        if later and self.primary(w) != self.id:
            self.view, self.changing = w, False
            self.ordered, self.pending_new_view, self.my_view_change = {}, None, None
            for old in [x for x in self.view_changes if x <= w]:
                del self.view_changes[old]

    def _on_prepare(self, m: dict[str, Any]) -> None:
        v, seq, d, sender = m.get("view"), m.get("seq"), m.get("digest"), m.get("from")
        self._follow(sender, v)
        if v != self.view or not self._in_window(seq) or not isinstance(d, str):
            return
        if sender == self.primary(v):
            return  # the primary's pre-prepare is its vote
        self._slot(seq).prepares.setdefault((v, d), set()).add(str(sender))
        self._check(seq)

    def _on_commit(self, m: dict[str, Any]) -> None:
        v, seq, d, sender = m.get("view"), m.get("seq"), m.get("digest"), m.get("from")
        self._follow(sender, v)
        if v != self.view or not self._in_window(seq) or not isinstance(d, str):
            return
        self._slot(seq).commits.setdefault((v, d), set()).add(str(sender))
        self._check(seq)

    def _check(self, seq: int) -> None:
        """Prepared? then COMMIT; committed? then execute what is in order."""
        slot = self.slots.get(seq)
        v = self.view
        if slot is None or v not in slot.pre_prepared or self.changing:
            return
        d = slot.pre_prepared[v]
        vouch = {self.primary(v)} | slot.prepares.get((v, d), set())
        if len(vouch) >= self.quorum and v not in slot.commit_sent:
            slot.prepared = (v, d)
            slot.commit_sent.add(v)
            self._broadcast({"kind": "commit", "view": v, "seq": seq, "digest": d})
            return  # our own commit comes back through the queue and checks again
        if slot.prepared == (v, d) and len(slot.commits.get((v, d), ())) >= self.quorum:
            if slot.committed != (v, d):
                slot.committed = (v, d)
                req = slot.requests.get(d)
                who = [req["client"], req["rid"]] if req else [None, None]
                self.committed_log.append([seq, v, d, *who])
            self._execute()

    def _execute(self) -> None:
        while True:
            seq = self.last_exec + 1
            slot = self.slots.get(seq)
            if slot is None or slot.committed is None:
                return
            d = slot.committed[1]
            req = slot.requests.get(d)
            fresh = False
            if req is not None:
                last = self.clients.get(req["client"])
                if last is None or last[0] < req["rid"]:
                    result = execute_op(self.kv, req["op"])
                    self.clients[req["client"]] = [req["rid"], result]
                    fresh = True
            self.last_exec = seq
            who = [req["client"], req["rid"]] if req else [None, None]
            self.executed_log.append([seq, d, *who, fresh])
            if seq % self.checkpoint_every == 0:
                snap = self._snapshot()
                self.snapshots[seq] = snap
                for old in sorted(self.snapshots)[:-KEEP_CHECKPOINTS]:
                    del self.snapshots[old]
                self._broadcast({"kind": "checkpoint", "seq": seq, "digest": snap[0]})

    def _snapshot(self) -> tuple[str, dict[str, Any]]:
        snap = {"kv": dict(self.kv), "clients": {c: list(v) for c, v in self.clients.items()}}
        return digest(snap), snap

    # -- checkpoints and state transfer ---------------------------------------------------

    def _on_checkpoint(self, m: dict[str, Any]) -> None:
        seq, d = m.get("seq"), m.get("digest")
        if not isinstance(seq, int) or seq <= self.low or not isinstance(d, str):
            return
        votes = self.checkpoint_votes.setdefault(seq, {})
        votes[str(m.get("from"))] = d
        if sum(1 for x in votes.values() if x == d) >= self.quorum:
            self._stable(seq, d)

    def _stable(self, seq: int, d: str) -> None:
        """Checkpoint ``seq`` (digest ``d``) is stable: drop the log at and below it; a
        replica that has not executed that far fetches the state (``fetch``)."""
        if seq <= self.low:
            return
        if self.last_exec < seq:
            self.fetch = (seq, d)
            return
        self.low = seq
        self.next_seq = max(self.next_seq, seq)
        for old in [s for s in self.slots if s <= seq]:
            del self.slots[old]
        for old in [s for s in self.checkpoint_votes if s <= seq]:
            del self.checkpoint_votes[old]
        if self.fetch is not None and self.fetch[0] <= seq:
            self.fetch = None

    def _on_install(self, m: dict[str, Any]) -> None:
        """A state fetched from a peer for stable checkpoint (seq, digest), checked by the
        node against the digest 2f+1 replicas (or f+1 view changes) vouched for."""
        seq, d, snap = m.get("seq"), m.get("digest"), m.get("snapshot")
        if not isinstance(seq, int) or seq <= self.last_exec or digest(snap) != d:
            return
        assert isinstance(snap, dict)
        self.kv = dict(snap["kv"])
        self.clients = {c: list(v) for c, v in snap["clients"].items()}
        self.last_exec = seq
        self.snapshots[seq] = (d, snap)
        self.installs.append(seq)
        self._stable(seq, d)
        self._execute()

    def snapshot_at(self, seq: int) -> tuple[str, dict[str, Any]] | None:
        """This replica's own state at checkpoint ``seq``, when it still has it."""
        return self.snapshots.get(seq)

    # -- view change ---------------------------------------------------------------------

    def _on_timeout(self, m: dict[str, Any]) -> None:
        """The node's timer ran out in view ``m["view"]``: move to the next view."""
        if m.get("view") == self.view:
            self._start_view_change(self.view + 1)

    def _start_view_change(self, view: int) -> None:
        self.view, self.changing = view, True
        self.ordered = {}
        prepared, pre_prepared = [], []
        for seq, slot in sorted(self.slots.items()):
            if seq <= self.low:
                continue
            if slot.prepared is not None:
                pv, pd = slot.prepared
                prepared.append([seq, pv, pd, slot.requests.get(pd)])
            for pv, pd in slot.pre_prepared.items():
                pre_prepared.append([seq, pv, pd])
        checkpoints = {str(s): d for s, (d, _) in self.snapshots.items() if s >= self.low}
        self.my_view_change = {
            "kind": "view-change",
            "view": view,
            "low": self.low,
            "checkpoints": checkpoints,
            "prepared": prepared,
            "pre_prepared": pre_prepared,
            "from": self.id,
        }
        self._broadcast(self.my_view_change)

    def _on_view_change(self, m: dict[str, Any]) -> None:
        w, sender = m.get("view"), str(m.get("from"))
        if not isinstance(w, int) or w < self.view or (w == self.view and not self.changing):
            return
        self.view_changes.setdefault(w, {})[sender] = m
        # f+1 replicas want a later view: at least one correct replica does, so join the
        # smallest such view (Castro and Liskov's rule that keeps a laggard from stalling)
        higher = {
            s: v
            for v, byv in self.view_changes.items()
            if v > self.view or (v == self.view and not self.changing)
            for s in byv
        }
        if len(higher) >= self.f + 1:
            target = min(higher.values())
            if target > self.view:
                self._start_view_change(target)
        if self.changing and w == self.view and self.primary(w) == self.id:
            self._try_new_view(w)
        if self.pending_new_view is not None:
            pending, self.pending_new_view = self.pending_new_view, None
            self._on_new_view(pending)

    def _try_new_view(self, w: int) -> None:
        vcs = self.view_changes.get(w, {})
        if len(vcs) < self.quorum:
            return
        decision = decide_new_view(list(vcs.values()), self.f, self.quorum, self.window, self.bugs)
        if decision is None:
            self.undecided = (w, sorted(vcs))
            return
        self.undecided = None
        low, low_digest, chosen = decision
        self._broadcast(
            {
                "kind": "new-view",
                "view": w,
                "vcs": sorted(vcs),
                "low": low,
                "low_digest": low_digest,
                "chosen": chosen,
            }
        )

    def _on_new_view(self, m: dict[str, Any]) -> None:
        w, names = m.get("view"), m.get("vcs")
        if (
            not isinstance(w, int)
            or m.get("from") != self.primary(w)
            or not isinstance(names, list)
        ):
            return
        if w < self.view or (w == self.view and not self.changing):
            return
        have = self.view_changes.get(w, {})
        if any(name not in have for name in names):
            self.pending_new_view = m  # wait for the view changes it names
            return
        vcs = [have[name] for name in names]
        if len(set(names)) < self.quorum:
            return
        decision = decide_new_view(vcs, self.f, self.quorum, self.window, self.bugs)
        if decision is None or list(decision) != [
            m.get("low"),
            m.get("low_digest"),
            m.get("chosen"),
        ]:
            return  # the primary's NEW-VIEW is not what its view changes decide: ignore it
        low, low_digest, chosen = decision
        self.view, self.changing = w, False
        self.pending_new_view, self.my_view_change = None, None
        self.ordered = {}
        for v in [v for v in self.view_changes if v <= w]:
            del self.view_changes[v]
        if low > self.low:
            self._stable(low, low_digest)
        top = low
        for seq, d, req in chosen:
            top = max(top, seq)
            if self._in_window(seq):
                self._accept_pre_prepare(w, seq, d, req)
        self.next_seq = max(top, self.low)


def _is_request(req: Any) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(req, dict)
        and isinstance(req.get("client"), str)
        and isinstance(req.get("rid"), int)
        and isinstance(req.get("op"), dict)
    )


def decide_new_view(
    vcs: list[dict[str, Any]], f: int, quorum: int, window: int, bugs: frozenset[str] = frozenset()
) -> tuple[int, str, list[list[Any]]] | None:
    """What a new view starts from, given its view changes: ``(low, low's digest, chosen)``
    where ``chosen`` is ``[seq, digest, request]`` for every sequence number above ``low``
    up to the highest prepared one; None when the view changes do not decide it yet.

    The checkpoint is the highest one f+1 view changes report with one digest (at least one
    correct replica executed to it). For each sequence number, a request with digest d,
    prepared in view v, is chosen when (A1) 2f+1 view changes claim nothing at that number
    that contradicts it (no prepared claim in a later view, nor another digest in view v)
    and (A2) f+1 report having pre-prepared d in view v or later: a request committed in an
    earlier view was prepared by 2f+1 replicas, so both hold, while a lone liar's claim
    fails A2. A null request is chosen when 2f+1 view changes prepared nothing there
    (Castro's thesis, the view change with MACs, simplified to one round). With
    ``view-change-drops-prepared`` every number becomes a null request.
    """
    support: dict[tuple[int, str], set[str]] = {}
    for vc in vcs:
        cps = vc.get("checkpoints")
        for s, d in (cps if isinstance(cps, dict) else {}).items():
            if str(s).isdigit() and isinstance(d, str):
                support.setdefault((int(s), d), set()).add(str(vc.get("from")))
    good = [key for key, who in support.items() if len(who) >= f + 1]
    if not good:
        return None
    low, low_digest = max(good)
    claims: dict[int, dict[str, tuple[int, str, Any]]] = {}  # seq -> sender -> (v, d, req)
    pre: dict[int, dict[str, dict[str, int]]] = {}  # seq -> sender -> digest -> highest view
    for vc in vcs:
        sender = str(vc.get("from"))
        for item in vc.get("prepared") or []:
            if not (isinstance(item, list) and len(item) == 4):
                continue
            seq, v, d, req = item
            # a request prepared in view v < the view the change is for, in the window
            if not (isinstance(v, int) and isinstance(vc.get("view"), int) and v < vc["view"]):
                continue
            if isinstance(seq, int) and low < seq <= low + window:
                if digest(req) == d:
                    claims.setdefault(seq, {})[sender] = (v, d, req)
        for item in vc.get("pre_prepared") or []:
            if not (isinstance(item, list) and len(item) == 3):
                continue
            seq, v, d = item
            if isinstance(seq, int) and isinstance(v, int) and isinstance(d, str):
                best = pre.setdefault(seq, {}).setdefault(sender, {})
                best[d] = max(v, best.get(d, -1))
    top = max(claims, default=low)
    chosen: list[list[Any]] = []
    senders = [str(vc.get("from")) for vc in vcs]
    for seq in range(low + 1, top + 1):
        if "view-change-drops-prepared" in bugs:
            chosen.append([seq, NULL, None])
            continue
        at = claims.get(seq, {})
        pick = None
        for v, d, req in sorted(at.values(), key=lambda c: -c[0]):
            a1 = sum(
                1
                for s in senders
                if s not in at or at[s][0] < v or (at[s][0] == v and at[s][1] == d)
            )
            a2 = sum(1 for s in senders if pre.get(seq, {}).get(s, {}).get(d, -1) >= v)
            if a1 >= quorum and a2 >= f + 1:
                pick = [seq, d, req]
                break
        if pick is None:
            if sum(1 for s in senders if s not in at) >= quorum:
                pick = [seq, NULL, None]
            else:
                return None
        chosen.append(pick)
    return low, low_digest, chosen
