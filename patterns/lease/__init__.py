"""Leases: time-bound ownership of resources, granted by a majority, renewed, and left to
lapse; holders act only while their lease certainly has not expired.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.lease --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/lease [--bug local-clock ...] [--resources 8] [--lease-ms 600] \\
        [--renew-ms 150] [--tenure-ms 500-1500] [--margin-ms M]

Every node is a **grantor** and a **holder**, for each of ``--resources`` resources
(``r0``, ``r1``, ...). No consensus is needed, only majorities (as in PaxosLease):

- A holder asks every grantor for the lease of a resource under a new *epoch* (one more
  than the highest it has heard of). A grantor grants it if it has no unexpired promise for
  that resource and the epoch is higher than any it granted before (kept durably, so that
  an epoch is granted at most once, even across a crash); it then promises the lease to
  that holder for ``--lease-ms``, counted on its monotonic clock from when the request
  arrived. Asked again by the same holder for the same epoch while the promise holds, it
  renews it. A grantor that restarts grants nothing for one lease time: it may have
  promised something before it crashed.
- A holder that got a majority of grants holds the lease until ``sent + lease - margin``,
  where ``sent`` is its monotonic clock read *before* it sent the request (every grantor's
  promise runs at least that long) and ``margin`` covers clocks that run at slightly
  different rates and the moment between checking and acting. It renews every
  ``--renew-ms``; after a tenure (random in ``--tenure-ms``, counted in renewals, so that a
  pause does not end it) it stops renewing and lets the lease lapse, so that leases move
  between nodes. Two majorities share a grantor, who
  promises to one holder at a time: the periods in which holders act never overlap, and
  epochs follow each other in time.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "act"}     -> {"ok": true, "value": [["r1", 7], ["r4", 3]]}
                           the node acted as holder of r1 (epoch 7) and r4 (epoch 3), now
                        -> {"ok": false, "error": "not-holder", "definite": true}
    {"type": "status"}  -> {"ok": true, "value": {"id": "n1", "holding": [["r1", 7]],
                            "promises": {"r1": ["n1", 7]}, "max_epoch": {...}, "bugs": []}}

Grantors talk with ``lease_request`` / ``lease_release`` (``holder``, ``items``:
``[[resource, epoch], ...]``) -> ``{"granted": [...], "refused": {resource: highest}}``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``local-clock``
    The holder trusts its local clock with no margin: it takes its lease to run until its
    *wall* clock, read when the grant arrived, plus the lease time, and compares that with
    its wall clock when it acts. Exposed by clock faults on a holder: when its clock steps
    back (a strobe flipping back, a bump back, a reset after a bump forward) it keeps acting
    for as long as the step, after the grantors have given the lease to another node.
``stale-flag``
    The holder acts while a "holding" flag is up, and its renewal loop takes the flag down
    only after two renewals in a row have failed. Exposed by pausing a holder for longer
    than a lease: the grantors' promises lapse, another node takes the lease, and the
    resumed holder acts on its flag until two renewals have failed. A partition cutting a
    holder off from the majority does it too, for a shorter time.
"""

from .node import BUGS, LeaseNode

__all__ = ["BUGS", "LeaseNode"]
