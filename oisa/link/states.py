"""The link's control states, as a table of data.

The table says, for every state and every input, which state follows and what the endpoint
does; a pair that is not in the table is a protocol error, raised as documented in
:data:`ERRORS`. ``specs/link-layer.md`` draws its state table and diagram from here, and the
tests walk every (state, input) pair, as h2 does for HTTP/2 streams.

The states follow PCIe's data link layer (DL_Inactive, FC_Init1, FC_Init2, DL_Active) with
retraining and failure made explicit:

* ``DOWN``: not trained yet; received flits are discarded.
* ``FC_INIT1``: advertising our receive credits (INIT_FC1) until the peer's arrive for every
  virtual channel and class. Data from the peer here is a protocol error.
* ``FC_INIT2``: advertising again (INIT_FC2) until the peer shows it is active; no data yet.
  Initialisation is bounded: an end not active after ``init_attempts`` advertisements or
  ``init_timeout_ps`` gives up and fails, as PCIe's link training gives up on a state after a
  timeout (see :class:`~oisa.link.endpoint.LinkConfig`).
* ``ACTIVE``: data flows; acknowledgements, replays and credit returns run.
* ``RETRAINING``: too many replays without progress (PCIe's REPLAY_NUM rollover) or the peer
  asked: no data crosses until both ends have retrained; then the replay buffer is replayed.
* ``FAILED``: initialisation or retraining failed; the link is down for good and says so upward.
"""

from __future__ import annotations

import enum

from oisa.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ERRORS", "INTERNAL", "RECEIVED", "TRANSITIONS", "Action", "LinkInput", "LinkState",
           "transition"]


class LinkState(enum.Enum):
    DOWN = "down"
    FC_INIT1 = "fc_init1"
    FC_INIT2 = "fc_init2"
    ACTIVE = "active"
    RETRAINING = "retraining"
    FAILED = "failed"


class LinkInput(enum.Enum):
    """What can happen to a link endpoint: flits arriving, or its own timers and counters."""

    LINK_UP = "physical link came up"
    INIT_FC1 = "INIT_FC1 received"
    INIT_FC2 = "INIT_FC2 received"
    DATA = "data flit received"
    ACK = "ACK/NAK flit received"
    CREDIT = "CREDIT flit received"
    NOP = "NOP flit received"
    CREDIT_POLL = "CREDIT_POLL received"
    RETRAIN = "RETRAIN received"
    RETRAIN_DONE = "RETRAIN_DONE received"
    PEER_CREDITS_KNOWN = "the peer's advertisement is complete"
    REPLAY_ROLLOVER = "replay counter rolled over"
    RETRAIN_COMPLETE = "retrain timer expired, the peer answered"
    RETRAIN_TIMEOUT = "retrain timer expired, no answer yet"
    RETRAIN_EXHAUSTED = "retrain timer expired, no answer, no attempts left"
    INIT_EXHAUSTED = "initialisation ran out of advertisements or time"


class Action(enum.Enum):
    """What the endpoint does on a transition (methods ``_do_<name>`` of the endpoint)."""

    IGNORE = "ignore"  # nothing: a repeat, or a flit the state discards
    ADVERTISE = "advertise"  # send our credits (INIT_FC1 or INIT_FC2, by state) until the peer answers
    RECORD_CREDITS = "record_credits"  # take (part of) the peer's advertisement
    FINISH_INIT = "finish_init"  # record, and the peer is ready: ACTIVE
    SEND_CREDITS = "send_credits"  # send a CREDIT flit with every allocation: the peer is still
    # initialising (it needs proof we are done) or polls because a credit return went missing
    PROCESS = "process"  # handle the flit's data, ack and credit fields
    ACTIVATE_AND_PROCESS = "activate_and_process"  # in FC_INIT2, data or credits also mean ACTIVE
    START_RETRAIN = "start_retrain"  # send RETRAIN, stop data, start the retrain timer
    JOIN_RETRAIN = "join_retrain"  # the peer retrains: answer RETRAIN and retrain too
    PEER_RETRAINING = "peer_retraining"  # handshake seen
    FINISH_RETRAIN = "finish_retrain"  # send RETRAIN_DONE and replay everything not yet acknowledged
    RETRY_RETRAIN = "retry_retrain"  # send RETRAIN again and restart the timer
    FAIL = "fail"  # retraining failed: the link is down for good
    FAIL_INIT = "fail_init"  # initialisation never completed: the link is down for good


S, I, A = LinkState, LinkInput, Action  # noqa: E741 (short aliases keep each transition on one line)

RECEIVED = (I.INIT_FC1, I.INIT_FC2, I.DATA, I.ACK, I.CREDIT, I.NOP, I.CREDIT_POLL, I.RETRAIN, I.RETRAIN_DONE)
INTERNAL = (I.PEER_CREDITS_KNOWN, I.REPLAY_ROLLOVER, I.RETRAIN_COMPLETE, I.RETRAIN_TIMEOUT, I.RETRAIN_EXHAUSTED,
            I.INIT_EXHAUSTED)
_RETRAIN_TIMERS = (I.RETRAIN_COMPLETE, I.RETRAIN_TIMEOUT, I.RETRAIN_EXHAUSTED)

TRANSITIONS: dict[tuple[LinkState, LinkInput], tuple[LinkState, Action]] = {
    # DOWN: nothing is trained; anything received is noise.
    (S.DOWN, I.LINK_UP): (S.FC_INIT1, A.ADVERTISE),
    **{(S.DOWN, i): (S.DOWN, A.IGNORE) for i in RECEIVED},
    # FC_INIT1: credits are being exchanged; only advertisements count. The peer cannot be
    # sending data yet: it needs our INIT_FC2 first.
    **{(S.FC_INIT1, i): (S.FC_INIT1, A.IGNORE) for i in RECEIVED if i is not I.DATA},
    (S.FC_INIT1, I.INIT_FC1): (S.FC_INIT1, A.RECORD_CREDITS),
    (S.FC_INIT1, I.INIT_FC2): (S.FC_INIT1, A.RECORD_CREDITS),
    (S.FC_INIT1, I.PEER_CREDITS_KNOWN): (S.FC_INIT2, A.ADVERTISE),
    (S.FC_INIT1, I.INIT_EXHAUSTED): (S.FAILED, A.FAIL_INIT),
    # FC_INIT2: we know the peer's credits; waiting for proof that it knows ours (its INIT_FC2,
    # or a CREDIT or data flit, which it sends only once it is active) before we send data.
    **{(S.FC_INIT2, i): (S.FC_INIT2, A.IGNORE) for i in RECEIVED},
    (S.FC_INIT2, I.INIT_FC2): (S.ACTIVE, A.FINISH_INIT),
    (S.FC_INIT2, I.DATA): (S.ACTIVE, A.ACTIVATE_AND_PROCESS),
    (S.FC_INIT2, I.CREDIT): (S.ACTIVE, A.ACTIVATE_AND_PROCESS),
    (S.FC_INIT2, I.CREDIT_POLL): (S.ACTIVE, A.SEND_CREDITS),  # the peer is up and sending: so are we
    (S.FC_INIT2, I.INIT_EXHAUSTED): (S.FAILED, A.FAIL_INIT),
    # ACTIVE: data flows.
    (S.ACTIVE, I.INIT_FC1): (S.ACTIVE, A.SEND_CREDITS),
    (S.ACTIVE, I.INIT_FC2): (S.ACTIVE, A.SEND_CREDITS),
    (S.ACTIVE, I.CREDIT_POLL): (S.ACTIVE, A.SEND_CREDITS),
    **{(S.ACTIVE, i): (S.ACTIVE, A.PROCESS) for i in (I.DATA, I.ACK, I.CREDIT, I.NOP)},
    (S.ACTIVE, I.RETRAIN): (S.RETRAINING, A.JOIN_RETRAIN),
    (S.ACTIVE, I.RETRAIN_DONE): (S.ACTIVE, A.IGNORE),
    (S.ACTIVE, I.REPLAY_ROLLOVER): (S.RETRAINING, A.START_RETRAIN),
    # RETRAINING: the link carries nothing but the retrain handshake.
    **{(S.RETRAINING, i): (S.RETRAINING, A.IGNORE) for i in RECEIVED},
    (S.RETRAINING, I.RETRAIN): (S.RETRAINING, A.PEER_RETRAINING),
    (S.RETRAINING, I.RETRAIN_DONE): (S.RETRAINING, A.PEER_RETRAINING),
    (S.RETRAINING, I.REPLAY_ROLLOVER): (S.RETRAINING, A.IGNORE),
    (S.RETRAINING, I.RETRAIN_COMPLETE): (S.ACTIVE, A.FINISH_RETRAIN),
    (S.RETRAINING, I.RETRAIN_TIMEOUT): (S.RETRAINING, A.RETRY_RETRAIN),
    (S.RETRAINING, I.RETRAIN_EXHAUSTED): (S.FAILED, A.FAIL),
    # FAILED: for good; late flits and timers change nothing.
    **{(S.FAILED, i): (S.FAILED, A.IGNORE) for i in RECEIVED + INTERNAL},
}
ERRORS: dict[tuple[LinkState, LinkInput], type[Exception]] = {
    **{(s, I.LINK_UP): LocalProtocolError for s in S if s is not S.DOWN},
    (S.FC_INIT1, I.DATA): RemoteProtocolError,
    **{(s, i): LocalProtocolError for s in (S.DOWN, S.FC_INIT1, S.FC_INIT2) for i in INTERNAL
       if (s, i) not in ((S.FC_INIT1, I.PEER_CREDITS_KNOWN), (S.FC_INIT1, I.INIT_EXHAUSTED),
                         (S.FC_INIT2, I.INIT_EXHAUSTED))},
    **{(s, i): LocalProtocolError for s in (S.ACTIVE, S.RETRAINING) for i in (I.PEER_CREDITS_KNOWN, I.INIT_EXHAUSTED)},
    **{(S.ACTIVE, i): LocalProtocolError for i in _RETRAIN_TIMERS},
}

_ERROR_TEXT = {
    I.LINK_UP: "the link is already up",
    I.DATA: "the peer sent data before it had our credits",
}


def transition(state: LinkState, event: LinkInput) -> tuple[LinkState, Action]:
    """The next state and action, or the documented protocol error."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        error = ERRORS[(state, event)]
        text = _ERROR_TEXT.get(event, "cannot happen in this state")
        raise error(f"{event.value} in state {state.name}: {text}") from None
