"""The search for the largest packet that crosses a path, by bisection, bounded and patient.

`largest_passing` asks a `Send` function whether a packet of a given size got through (an
answer came back in time), and bisects between a size known to pass and one known to fail.
Loss is not size: a size counts as failed only after `tries` sends all went unanswered, and
only while the known-good size keeps passing (it is sent again after each failure); a path
that stops answering even that is an error of its own (`PathSilent`), never a small MTU. The
number of packets is bounded (`budget`); the search says how many it sent.

Pure logic: no sockets here (`icmp.py` sends), so it is tested with a simulated path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Outcome(Enum):
    PASSED = "passed"  # an answer came back
    LOST = "lost"  # no answer in time
    TOO_BIG_HERE = "too_big_here"  # the local interface cannot send it (EMSGSIZE)
    TOO_BIG_REPORTED = "too_big_reported"  # an ICMP too-big came back: PMTUD works there


Send = Callable[[int], Outcome]


class PathSilent(Exception):
    """Nothing answers, not even the smallest size: filtered, down, or the wrong address."""


@dataclass
class Search:
    """What the search found, and what it took."""

    largest_passing: int
    smallest_failing: int | None  # None: nothing up to the local limit failed
    local_limit: int | None = None  # the largest size the local interface would send
    reported_mtu: int | None = None  # from an ICMP too-big, when one came back
    sent: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)  # (size, outcome), in order

    @property
    def exact(self) -> bool:
        """Whether the largest passing size is known exactly (the next size up failed, or the
        local interface allows no more)."""
        if self.smallest_failing is not None:
            return self.smallest_failing == self.largest_passing + 1
        return self.local_limit == self.largest_passing


def largest_passing(send: Send, low: int, high: int, *, tries: int = 3, budget: int = 64) -> Search:
    """The largest size in [low, high] that passes, by bisection; `low` must pass (else
    `PathSilent`), and `high` is the largest the local interface sends. Each failing size is
    sent `tries` times, with the known-good size sent again between them, so that plain loss
    is not taken for size. Raises `BudgetSpent` (holding what was learnt) past `budget`."""
    if not 0 < low <= high:
        raise ValueError(f"bad range {low}..{high}")
    search = Search(largest_passing=low, smallest_failing=None)

    def attempt(size: int) -> Outcome:
        if search.sent >= budget:
            raise BudgetSpent(search)
        search.sent += 1
        outcome = send(size)
        search.log.append((size, outcome.value))
        return outcome

    def answered(size: int) -> bool:
        return any(attempt(size) is Outcome.PASSED for _ in range(tries))

    def passes(size: int) -> bool | None:
        """True; False: failed `tries` times while the known-good size kept passing (or a
        router reported it too big); None: the local interface cannot send it."""
        for _ in range(tries):
            outcome = attempt(size)
            if outcome is Outcome.PASSED:
                return True
            if outcome is Outcome.TOO_BIG_HERE:
                return None
            if outcome is Outcome.TOO_BIG_REPORTED:
                return False
            if not answered(search.largest_passing):
                raise PathSilent(
                    f"the path stopped answering even {search.largest_passing}-byte packets "
                    f"while {size}-byte ones were being tried"
                )
        return False

    if not answered(low):
        raise PathSilent(f"nothing answered {tries} packets of {low} bytes")
    ceiling, candidate = high, high  # the largest size that may still be sent; try it first
    while candidate > search.largest_passing:
        answer = passes(candidate)
        if answer is True:
            search.largest_passing = candidate
        elif answer is False:
            search.smallest_failing = candidate
        else:
            ceiling = candidate - 1
        failing = search.smallest_failing
        upper = failing - 1 if failing is not None else ceiling
        candidate = (search.largest_passing + upper + 1) // 2
    if search.smallest_failing is None:
        search.local_limit = ceiling
    return search


class BudgetSpent(Exception):
    """The search used up its packets before it was exact; `search` holds what it knew."""

    def __init__(self, search: Search) -> None:
        super().__init__(f"the probe used its {search.sent} packets before the answer was exact")
        self.search = search
