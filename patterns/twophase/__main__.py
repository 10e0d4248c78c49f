"""``python3 -m patterns.twophase``: run one two-phase commit node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from .node import BUGS, TwoPhaseNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "twophase",
    "Two-phase commit over hash-partitioned keys (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "lock-wait-ms",
            1000,
            "how long a prepare waits for its locks before voting no (1000)",
            arg="lock_wait",
        ),
        ms(
            "prepare-timeout-ms",
            1000,
            "how long the coordinator waits for a vote or a commit acknowledgement, "
            "and then skips a peer that did not answer (1000)",
            arg="prepare_timeout",
        ),
        ms(
            "doubt-ms",
            1000,
            "how long a prepared transaction waits before asking (1000)",
            arg="doubt",
        ),
        ms(
            "retry-ms",
            300,
            "interval of in-doubt queries and commit re-sends (300)",
            arg="retry",
        ),
        ms(
            "commit-gap-ms",
            0,
            "pause between the commit messages of one transaction, which widens "
            "the window a crash of the coordinator falls in (0)",
            arg="commit_gap",
        ),
    ),
    node=TwoPhaseNode,
)

if __name__ == "__main__":
    serve(PATTERN)
