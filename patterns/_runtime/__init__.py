"""The runtime every reference pattern is built on (stdlib only: it runs on bare nodes).

A pattern is a package ``patterns/<name>/`` started as ``python3 -m patterns.<name>``, with
the working directory at the directory that holds ``patterns/``. It uses:

- ``cli``: the shared command line (``--id --listen --peers --data --bug``) as a
  ``NodeConfig``; ``setup_logging`` (stderr, UTC timestamps, node id on every line);
  ``wait_for_signal`` for the main thread.
- ``wire``: newline-delimited JSON over TCP. ``Server(listen, handler)`` serves peers and
  clients on one port, a thread per connection; ``handler(request) -> reply`` and the
  server copies the request's ``id`` into the reply. ``RpcClient(address)`` calls a peer,
  with request ids, a connect timeout, a per-call deadline and a small connection pool.
- ``errors``: error codes and whether each is definite (a ``fail``: certainly not done) or
  not (an ``info``: maybe done); ``ok_reply`` / ``error_reply`` build replies;
  ``ConnectFailed`` (nothing was sent: definite), ``RpcTimeout`` and ``ConnectionLost``
  (sent: indefinite) are what ``RpcClient.call`` raises.
- ``durable``: ``atomic_write`` (temp file, fsync, rename, fsync of the directory) and
  ``RecordLog``, an append-only log of JSON records with group-commit fsync that drops a
  torn last record on recovery, so a kill -9 at any moment leaves a readable state.

A minimal pattern::

    from patterns._runtime import Server, error_reply, ok_reply, parse_args, setup_logging
    from patterns._runtime import wait_for_signal

    def main(argv=None):
        cfg = parse_args(argv, prog="python3 -m patterns.echo", bugs={})
        setup_logging(cfg.id, cfg.log_level)

        def handle(req):
            if req.get("type") == "echo":
                return ok_reply(req.get("value"))
            return error_reply("bad-request", f"unknown type {req.get('type')!r}")

        server = Server(cfg.listen, handle)
        server.start()
        wait_for_signal(server.stop)

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
from .wire import MAX_LINE, RpcClient, Server, decode, encode, parse_address

__all__ = [
    "BAD_REQUEST",
    "CONNECTION_LOST",
    "DEFINITE",
    "INTERNAL",
    "MAX_LINE",
    "NOT_LEADER",
    "TIMEOUT",
    "UNAVAILABLE",
    "ConnectFailed",
    "ConnectionLost",
    "NodeConfig",
    "RecordLog",
    "RpcClient",
    "RpcError",
    "RpcTimeout",
    "Server",
    "atomic_write",
    "atomic_write_json",
    "decode",
    "encode",
    "error_reply",
    "fsync_dir",
    "is_definite",
    "ok_reply",
    "parse_address",
    "parse_args",
    "read_json",
    "setup_logging",
    "wait_for_signal",
]
