"""Clock synchronization: every node keeps an estimate of the true time and an error bound it
vouches for, from its peers' clocks read the way Cristian's algorithm does and combined the
way Marzullo's does (what NTP does against its servers).

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.clocksync --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/clocksync [--bug ignore-rtt ...] [--sync-ms 250] \\
        [--max-drift-ppm 100000] [--clock-error-us 1000] [--rpc-timeout-ms 1000] \\
        [--max-rtt-ms 2000]

Clocks. A node's *hardware clock* is its wall clock (``time.time()``: what the clock-skew and
drift faults move); its monotonic clock measures durations truly (neither fault moves it). A
hardware clock is assumed to be within ``--clock-error-us`` of the true time and to run at
the true rate within ``--max-drift-ppm``. Some clocks break that (a bumped or drifting clock):
a node does not know which, and trusts only what a majority of sources agree on.

A round, every ``--sync-ms``: the node reads every peer's hardware clock at once
(``clock_read``). A reply that took a round trip ``rtt`` (monotonic) and says ``hw_p ± e_p``
bounds the offset ``true time - my hardware clock`` at its arrival to ``hw_p + rtt/2 - hw ±
(rtt/2 + e_p)``: the peer read its clock somewhere within the round trip (Cristian). Each
interval is widened by what the node's own clock may drift until the end of the round, and
the node's own clock is a source too (offset ``0 ± clock error``). The node keeps the hull of
the points that a majority of the members (``n // 2 + 1`` sources) cover (Marzullo): the true
offset is in it whenever a majority of the sources tell the truth, whatever the others say.
With no point covered by a majority (the node is cut off, too few peers answer), the round
changes nothing. Replies slower than ``--max-rtt-ms`` are not used.

The clock then reads ``hardware + adj`` (``adj`` the middle of the interval) and its bound is
the interval's half-width, plus ``max drift x time since the round`` (the node's own clock may
drift that far meanwhile), plus 2 ms (``STEP_SLACK``). A hardware clock that moves against the
monotonic one by more than the drift and the slack allow has stepped: the node stops
vouching (``synced: false``) until its next round; a round during which it stepped (its
start, its end and each reply's reading must agree) is discarded. Nothing is durable: a
restarted node is unsynchronized until its first round.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "now"}     -> {"ok": true, "value": {"id", "hw_us", "synced": true, "time_us",
                            "bound_us", "age_ms", "sync": {"sources", "answered", "rtt_ms"}}}
                           the node's time and the bound it vouches for: the true time is
                           within time_us ± bound_us (microseconds since the epoch);
                           age_ms since the round that set it, sync what that round used
                        -> {"ok": true, "value": {"id", "hw_us", "synced": false, "why"}}
                           the node vouches for nothing now (not synchronized yet, or its
                           clock stepped since)
    {"type": "status"}  -> the same, plus "bugs", "rounds", "steps"

Peers ask ``{"type": "clock_read"}`` -> ``{"id", "hw_us", "error_us"}``: the hardware clock
and the error claimed for it.

What the node promises: every time it vouches for, the true time is within the bound
(honest), as long as a majority of the hardware clocks keep to their error and drift; and
after a fault heals, it is synchronized again within a few rounds, with a bound back to about
its clock error plus half the round trips.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``ignore-rtt``
    A peer's reading is taken as the true time at the moment its reply arrives: no half round
    trip added, none in the bound. Exposed by the delay fault (``delay`` on every node): the
    replies come a latency late, the peers' readings all say the clock is that much behind
    the true time, they agree with each other, and the bound (the clock error) is far
    smaller than the error.
``single-source``
    Each round takes the first peer to answer, alone, with its Cristian interval: no
    cross-check. Exposed by a clock fault on one node (``clock`` bump or strobe, ``drift``):
    whenever the faulty node answers first, every node that asked takes its error, with a
    bound that does not cover it.
``no-drift-bound``
    The bound does not grow with the time since the round that set it. Exposed by the
    ``drift`` fault: the drifting node's own clock runs away from the true time between
    rounds (at x1.08, 20 ms in a 250 ms round), beyond a bound of a millisecond or two.
"""

from .node import BUGS, STEP_SLACK, ClockSyncNode, Sample, agreed_interval, read_clocks

__all__ = ["BUGS", "STEP_SLACK", "ClockSyncNode", "Sample", "agreed_interval", "read_clocks"]
