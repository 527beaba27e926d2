"""Ordering rules as a table: may a later message pass an earlier one waiting in the same queue?

The table is PCIe's ordering summary (row passes column) restricted to the three flow-control
classes oisa uses, with its relaxations: relaxed ordering (``ro``) and ID-based ordering
(``ido``, which orders a message only against messages of the same source). Rules apply within
one virtual channel; different traffic classes are never ordered against each other.

Each cell is one of:

* ``MUST_NOT``: passing would break producer/consumer ordering (a read must not overtake the
  write it is meant to observe);
* ``MUST_ALLOW``: a queue must let it pass, or posted writes waiting behind blocked reads could
  deadlock the fabric;
* ``MAY``: the implementation chooses; oisa's queues allow it.

A relaxation turns a ``MUST_NOT`` into ``MAY``. Queues consult :func:`may_pass` only when the
earlier message is blocked (for instance waiting for credits), so in the common case order is
simply first in, first out.
"""

from __future__ import annotations

import enum

from oisa.wire.oisa import OPCODES, FcClass, Message, Opcode

__all__ = ["ORDERING", "PATH_FREE", "Rule", "may_pass", "path_free"]


class Rule(enum.Enum):
    MUST_NOT = "no"
    MUST_ALLOW = "yes"
    MAY = "Y/N"


P, NP, CPL = FcClass.POSTED, FcClass.NON_POSTED, FcClass.COMPLETION

# (later, earlier) -> (rule, relaxations that turn MUST_NOT into MAY)
ORDERING: dict[tuple[FcClass, FcClass], tuple[Rule, tuple[str, ...]]] = {
    (P, P): (Rule.MUST_NOT, ("ro", "ido")),
    (P, NP): (Rule.MUST_ALLOW, ()),
    (P, CPL): (Rule.MAY, ()),
    (NP, P): (Rule.MUST_NOT, ("ido",)),
    (NP, NP): (Rule.MAY, ()),
    (NP, CPL): (Rule.MAY, ()),
    (CPL, P): (Rule.MUST_NOT, ("ro", "ido")),
    (CPL, NP): (Rule.MUST_ALLOW, ()),
    (CPL, CPL): (Rule.MAY, ()),
}


def _relaxed(later: Message, earlier: Message, relaxations: tuple[str, ...]) -> bool:
    if "ro" in relaxations and later.ro:
        return True
    return "ido" in relaxations and later.ido and later.src != earlier.src


def may_pass(later: Message, earlier: Message) -> bool:
    """True if ``later`` may be sent before ``earlier`` (both waiting in one virtual channel)."""
    rule, relaxations = ORDERING[(OPCODES[later.opcode].fc_class, OPCODES[earlier.opcode].fc_class)]
    if rule is Rule.MUST_NOT:
        return _relaxed(later, earlier, relaxations)
    if (rule is Rule.MAY and later.info.fc_class is CPL and earlier.info.fc_class is CPL
            and (later.src, later.dst, later.tag) == (earlier.src, earlier.dst, earlier.tag)):
        return False  # completions of one request stay in address order
    return True


# Messages whose order no rule ties to one another once they are on their way: DMA requests
# (every one answered, placed by address), completions (matched by tag, placed by address),
# loads and collective contributions. A fabric may send them over different equal paths;
# everything else keeps to one path per source, destination and traffic class, because posted
# writes must not be overtaken by later posted writes or by reads.
PATH_FREE = frozenset({Opcode.DMA_WR, Opcode.DMA_RD, Opcode.CPL, Opcode.CPL_D, Opcode.CXL_NDR, Opcode.CXL_DRS,
                       Opcode.COLL_REDUCE, Opcode.LOAD})


def path_free(message: Message) -> bool:
    """True if ``message`` may take any of several equal paths: it is :data:`PATH_FREE`, or a
    posted write with relaxed ordering, which later posted writes may pass anyway (PCIe Attr
    RO). Whoever needs to know such writes have landed must then flush every path."""
    return message.opcode in PATH_FREE or (message.opcode is Opcode.MEM_WR and message.ro)
