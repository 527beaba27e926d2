"""What a collective does when ranks die under it: abort with :class:`~oisa.errors.RankFailed`,
or shrink its communicator and run again without them.

A rank that died is found out by its peers' completion timeouts (:mod:`oisa.fabric.outages`: a
card that dies stops answering), or, where no survivor asks it anything (a broadcast from a dead
root), when the survivors are left waiting and nothing else can happen (the kernel's deadlock,
standing for the watchdog timeout of a real library, which would come later). The first of
these aborts the collective, as NCCL's watchdog aborts a communicator whose operation stalls;
the ranks it names as failed are the communicator's cards that had died by then (the health
check an application runs before it names the ranks to exclude). Then, as :data:`ON_FAILURE`
says:

* ``abort``: the collective ends with :class:`~oisa.errors.RankFailed`, naming the failed ranks,
  when that was detected and whose results are incomplete;
* ``shrink``: a communicator of the survivors runs the collective again from the start, as NCCL's
  ``ncclCommShrink`` makes one by excluding ranks from an existing communicator (NCCL 2.27,
  https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/api/comms.html#ncclcommshrink), here on
  a fresh instance of the fabric in which the failures so far are in force from its start and
  later outages come as scheduled. The new communicator's set-up is not timed (NCCL documents no
  figure for it): the collective's time is the time lost to the aborted attempts plus the
  successful one's. A rooted collective whose root died cannot shrink and aborts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from oisa.errors import CompletionTimeout, RankFailed, SimulationDeadlock
from oisa.fabric.outages import Outage
from oisa.units import format_time

__all__ = ["ON_FAILURE", "after", "rank_failure"]

ON_FAILURE = ("abort", "shrink")


def rank_failure(stop: CompletionTimeout | SimulationDeadlock, ranks: Sequence[int]) -> RankFailed | None:
    """What stopped a collective (a completion timeout, or a stall: ranks waiting for data a dead
    rank was to send, which no request of theirs asks for) as the failure of the communicator's
    ranks that had died by then (None if no rank of ``ranks``, card ids in rank order, had:
    then ``stop`` is the error)."""
    cards = tuple(card for card in ranks if card in stop.failed)
    if not cards:
        return None
    index = {card: rank for rank, card in enumerate(ranks)}
    failed = tuple(index[card] for card in cards)
    incomplete = tuple(index[card] for card in stop.incomplete if card in index)
    detected = stop.at_ps or 0
    how = (f"a completion timeout (card {stop.requester} waiting for card {stop.peer})"
           if isinstance(stop, CompletionTimeout) else "a stall (the survivors waiting for what it was to send)")
    return RankFailed(f"rank{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} (card"
                      f"{'s' if len(cards) > 1 else ''} {', '.join(map(str, cards))}) failed, detected "
                      f"{format_time(detected)} into the collective by {how}; incomplete results on ranks "
                      f"{', '.join(map(str, incomplete))}", ranks=failed, cards=cards, detected_ps=detected,
                      incomplete=incomplete)


def after(outages: Sequence[Outage], elapsed_ps: int) -> tuple[Outage, ...]:
    """``outages`` as a run that starts ``elapsed_ps`` later sees them: what failed by then and
    is not repaired is failed from its start, what comes later comes that much sooner."""
    shifted = []
    for outage in outages:
        if outage.repair_ps is not None and outage.repair_ps <= elapsed_ps:
            continue  # over before the new attempt starts
        repair = None if outage.repair_ps is None else outage.repair_ps - elapsed_ps
        shifted.append(replace(outage, at_ps=max(0, outage.at_ps - elapsed_ps), repair_ps=repair))
    return tuple(shifted)
