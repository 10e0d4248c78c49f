"""The runtime every reference pattern is built on (stdlib only: it runs on bare nodes).

How a new pattern is written
----------------------------
A pattern is a package ``patterns/<name>/``, started as ``python3 -m patterns.<name>`` with
the working directory at the directory that holds ``patterns/``. It imports the standard
library, this runtime and other patterns' public names (``from ..raft import RaftNode``),
nothing else: ``patterns/`` is copied alone to every node. It has three files:

- ``node.py``: ``BUGS`` (each seeded bug's name -> one line on what it breaks) and the node,
  a subclass of ``Node``. Its ``__init__`` calls ``super().__init__(cfg)``, recovers its
  durable state from ``cfg.data``, and adds its request kinds to ``self.handlers``
  (``"type" -> handler(request) -> reply``, built with ``ok_reply`` / ``error_reply``). It
  overrides what it needs of the lifecycle: ``status`` (the ``status`` reply: at least
  ``id`` and ``bugs``; the harness polls it, and reads ``role`` to find leaders), ``tick``
  with ``tick_every`` (timeouts, heartbeats, rounds), ``persist`` (durable before any reply
  depends on it: ``atomic_write_json``, ``RecordLog``), ``close``. Calls to peers go through
  ``peer_clients`` and ``ask``; client requests another node must serve go there through
  ``forward`` (one hop, with ``request_deadline``). A replicated state machine subclasses
  ``patterns.raft.RaftNode`` instead and writes ``execute`` (see ``patterns/raft/node.py``).
- ``__main__.py``: the entry point, a few lines::

      from .._runtime import Pattern, ms, serve
      from .node import BUGS, EchoNode

      PATTERN = Pattern(
          "echo", "An echo node (reference pattern of splitbrain).", bugs=BUGS,
          flags=(ms("delay-ms", 0, "wait before answering", arg="delay"),),
          node=EchoNode,
      )
      if __name__ == "__main__":
          serve(PATTERN)

  The shared command line (``--id --listen --peers --data --bug --log-level``) comes with
  it; the table adds the pattern's own flags (``ms``, ``ms_range``, ``count``, ``switch``),
  each passed to the node as a keyword (``--delay-ms 20`` -> ``EchoNode(cfg, delay=0.02)``).
  ``workloads/daemon.py`` writes a system's options as these flags (``delay_ms`` ->
  ``--delay-ms``).
- ``__init__.py``: the docstring is the pattern's manual: the command line, the protocol,
  the client requests and their errors (definite or not), and each seeded bug with the fault
  that exposes it.

The modules
-----------
- ``main``: ``Pattern``, its ``Flag`` table and ``serve``.
- ``node``: ``Node``, the handler table and the lifecycle (start, tick, stop, persist).
- ``cli``: the shared command line as a ``NodeConfig``; ``setup_logging`` (stderr, UTC
  timestamps, node id on every line); ``wait_for_signal`` for the main thread.
- ``wire``: newline-delimited JSON over TCP. ``Server(listen, handler)`` serves peers and
  clients on one port, a thread per connection, and copies the request's ``id`` into the
  reply. ``RpcClient(address)`` calls a peer, with request ids, a connect timeout, a per-call
  deadline and a small connection pool.
- ``errors``: error codes and whether each is definite (a ``fail``: certainly not done) or
  not (an ``info``: maybe done); ``ConnectFailed`` (nothing was sent: definite),
  ``RpcTimeout`` and ``ConnectionLost`` (sent: indefinite) are what ``RpcClient.call`` raises.
- ``requests``: a request's deadline, forwarding one hop, the register's read / write / cas
  (``register_problem``, ``same_value``) and ``home_of`` (the member that keeps a key).
- ``durable``: ``atomic_write`` (temp file, fsync, rename, fsync of the directory) and
  ``RecordLog``, an append-only log of JSON records with group-commit fsync that drops a
  torn last record on recovery, so a kill -9 at any moment leaves a readable state.

Timing inside patterns uses ``time.monotonic()``, which the clock-skew nemesis leaves alone
by default (it moves the wall clock): timeouts stay honest while wall-clock time jumps.
"""

from .cli import NodeConfig, parse_args, setup_logging, wait_for_signal
from .durable import RecordLog, atomic_write, atomic_write_json, fsync_dir, read_json
from .errors import (
    BAD_REQUEST,
    CONNECTION_LOST,
    DEFINITE,
    INTERNAL,
    NOT_LEADER,
    TIMEOUT,
    UNAVAILABLE,
    ConnectFailed,
    ConnectionLost,
    RpcError,
    RpcTimeout,
    error_reply,
    is_definite,
    ok_reply,
)
from .main import Flag, Pattern, count, ms, ms_range, serve, switch
from .node import Node
from .requests import (
    REGISTER_OPS,
    forward,
    home_of,
    register_problem,
    request_deadline,
    same_value,
)
from .wire import MAX_LINE, RpcClient, Server, decode, encode, parse_address

__all__ = [
    "BAD_REQUEST",
    "CONNECTION_LOST",
    "DEFINITE",
    "INTERNAL",
    "MAX_LINE",
    "NOT_LEADER",
    "REGISTER_OPS",
    "TIMEOUT",
    "UNAVAILABLE",
    "ConnectFailed",
    "ConnectionLost",
    "Flag",
    "Node",
    "NodeConfig",
    "Pattern",
    "RecordLog",
    "RpcClient",
    "RpcError",
    "RpcTimeout",
    "Server",
    "atomic_write",
    "atomic_write_json",
    "count",
    "decode",
    "encode",
    "error_reply",
    "forward",
    "fsync_dir",
    "home_of",
    "is_definite",
    "ms",
    "ms_range",
    "ok_reply",
    "parse_address",
    "parse_args",
    "read_json",
    "register_problem",
    "request_deadline",
    "same_value",
    "serve",
    "setup_logging",
    "switch",
    "wait_for_signal",
]
