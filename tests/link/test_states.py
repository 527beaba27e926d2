"""The link state table, walked exhaustively in the style of h2's state-machine tests."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import LocalProtocolError, RemoteProtocolError
from oisa.link.states import ERRORS, TRANSITIONS, Action, LinkInput, LinkState, transition

PAIRS = [(state, event) for state in LinkState for event in LinkInput]


def test_every_pair_is_either_a_transition_or_a_documented_error():
    assert set(TRANSITIONS) | set(ERRORS) == set(PAIRS)
    assert not set(TRANSITIONS) & set(ERRORS)


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=lambda x: x.name)
def test_each_pair_lands_in_a_state_or_raises_its_error(state, event):
    if (state, event) in TRANSITIONS:
        next_state, action = transition(state, event)
        assert next_state in LinkState and action in Action
    else:
        with pytest.raises(ERRORS[(state, event)]) as info:
            transition(state, event)
        assert state.name in str(info.value)


@given(st.lists(st.sampled_from(list(LinkInput))))
def test_any_sequence_of_inputs_stays_within_the_table(events):
    state = LinkState.DOWN
    for event in events:
        try:
            state, _ = transition(state, event)
        except (LocalProtocolError, RemoteProtocolError):
            assert (state, event) in ERRORS
        assert state in LinkState


def test_failed_is_final():
    for event in LinkInput:
        if (LinkState.FAILED, event) in TRANSITIONS:
            assert transition(LinkState.FAILED, event)[0] is LinkState.FAILED


def test_data_before_the_peer_had_our_credits_is_the_peers_fault():
    with pytest.raises(RemoteProtocolError):
        transition(LinkState.FC_INIT1, LinkInput.DATA)


@pytest.mark.parametrize("state", [LinkState.FC_INIT1, LinkState.FC_INIT2])
def test_initialisation_that_runs_out_fails_the_link(state):
    assert transition(state, LinkInput.INIT_EXHAUSTED)[0] is LinkState.FAILED
