"""``link``: two of oisa's link endpoints over a wire that drops, corrupts and duplicates frames
must deliver exactly what was sent, once each and in order, both ways, and never overdraw
credits: the property ``oisa.testing.check_link`` runs on any pair (:mod:`oisa.testing._link_script`),
here with oisa's own endpoints."""

from __future__ import annotations

from typing import Any

from oisa.link import LinkConfig, LinkEndpoint
from oisa.testing._link_script import check_script, link_inputs
from oisa.testing.fuzz._target import FuzzTarget
from oisa.wire.oisa import FcClass

__all__ = ["CONFIG", "link_target", "oisa_pair"]

# Small buffers and a short replay timer, so that a few messages run out of credits and faults
# are repaired within the first frames.
CONFIG = LinkConfig(buffers=((FcClass.POSTED, 8, 256), (FcClass.NON_POSTED, 4, 256), (FcClass.COMPLETION, 0, 0)),
                    replay_buffer=16, replay_timeout_ps=400_000, ack_every=4, credit_poll_ps=300_000)


def oisa_pair() -> tuple[LinkEndpoint, LinkEndpoint]:
    return LinkEndpoint(CONFIG, name="a"), LinkEndpoint(CONFIG, name="b")


def _check(example: Any) -> None:
    check_script(oisa_pair, example)


def link_target() -> FuzzTarget:
    return FuzzTarget("link", "two link endpoints over a wire that drops, corrupts and duplicates frames deliver "
                      "every message exactly once, in order, both ways, and never send beyond their credits",
                      link_inputs(), _check)
