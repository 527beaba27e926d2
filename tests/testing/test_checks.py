"""The checks a vendor runs on their own objects, from factories (``oisa.testing.check_adapter``,
``check_link``): oisa's own adapters and link endpoints pass; deliberately broken ones, never
registered, fail with the rule they break, what went wrong and the minimal example; and the
name-based kit gives the same verdict as the factory it builds."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from oisa.device import load_profile
from oisa.device.adapter import Capability
from oisa.device.adapters.pcie import PcieTlpAdapter
from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.device.profile import DeviceProfile
from oisa.errors import UsageError
from oisa.link import LinkConfig, LinkEndpoint
from oisa.testing import CheckFailed, ConformanceWarning, check_adapter, check_link, link_state_machine
from oisa.testing.conformance import run_conformance
from oisa.wire.oisa import FcClass, Message
from tests.testing.support import ByteDroppingAdapter

EXAMPLES = 5
# Small buffers and a short replay timer (as the link fuzz target's): a few messages run out of credits.
CONFIG = LinkConfig(buffers=((FcClass.POSTED, 8, 256), (FcClass.NON_POSTED, 4, 256), (FcClass.COMPLETION, 0, 0)),
                    replay_buffer=16, replay_timeout_ps=400_000, ack_every=4, credit_poll_ps=300_000)


def oisa_pair() -> tuple[LinkEndpoint, LinkEndpoint]:
    return LinkEndpoint(CONFIG, name="a"), LinkEndpoint(CONFIG, name="b")


def _profile_for(cls: type[VendorDescriptorAdapter]) -> DeviceProfile:
    """The MI300X-like card with adapter ``cls``, which no registry knows."""
    return replace(load_profile("mi300x-like"), name=f"{cls.name}-card", adapter=cls.name)


class NoSnoopDroppingAdapter(VendorDescriptorAdapter):
    """Forgets the no-snoop bit of every message it reads from its native frames."""

    name = "unregistered-ns-dropping"

    def from_native(self, frame: bytes) -> Message:
        message = super().from_native(frame)
        message.ns = False
        return message


class QuietAboutAtomicsAdapter(VendorDescriptorAdapter):
    """Carries atomics but does not declare them: a SHOULD case, not a MUST one."""

    name = "unregistered-quiet-atomics"
    capabilities = VendorDescriptorAdapter.capabilities - {Capability.ATOMICS}


# -- check_adapter -----------------------------------------------------------------------------------

def test_oisa_adapters_pass_check_adapter_from_a_factory():
    profile = load_profile("mi300x-like")
    report = check_adapter(lambda card: VendorDescriptorAdapter(card, profile), examples=EXAMPLES, seed=1)
    assert report.conforms and report.failed() == []
    assert len(report.results) == len(run_conformance("vendor-descriptor", examples=EXAMPLES, seed=1).results)


class UnregisteredAdapter(VendorDescriptorAdapter):
    """VDESC under a name no registry knows, counting the native frames it writes."""

    name = "unregistered-vdesc"
    frames_written = 0

    def to_native(self, message: Message) -> bytes:
        type(self).frames_written += 1
        return super().to_native(message)


def test_an_unregistered_adapter_runs_end_to_end_in_cards_on_a_fabric():
    """The end-to-end cases put the factory's adapters in the cards, not a registered class."""
    profile = _profile_for(UnregisteredAdapter)
    report = check_adapter(lambda card: UnregisteredAdapter(card, profile), examples=2, seed=1,
                           cases=["ADP-DECL-001", "ADP-E2E-001", "ADP-E2E-002"])
    assert [r.outcome for r in report.results] == ["passed"] * 3
    assert report.adapter == "unregistered-vdesc" and report.origin.startswith("factory ")
    before = UnregisteredAdapter.frames_written
    check_adapter(lambda card: UnregisteredAdapter(card, profile), examples=2, seed=1, cases=["ADP-E2E-002"])
    assert UnregisteredAdapter.frames_written > before


def test_the_name_based_kit_and_the_factory_give_the_same_report():
    """``oisa conformance NAME`` is a front end of the factory path: same cases, outcomes, reasons."""
    by_name = run_conformance("pcie-tlp", examples=EXAMPLES, seed=2)
    profile = load_profile(by_name.profile)
    by_factory = check_adapter(lambda card: PcieTlpAdapter(card, profile), examples=EXAMPLES, seed=2)
    assert [(r.case.id, r.outcome, r.reason) for r in by_factory.results] == \
           [(r.case.id, r.outcome, r.reason) for r in by_name.results]


def test_an_unregistered_adapter_that_drops_a_field_fails_with_the_case_and_the_minimal_example():
    profile = _profile_for(NoSnoopDroppingAdapter)
    with pytest.raises(CheckFailed) as caught:
        check_adapter(lambda card: NoSnoopDroppingAdapter(card, profile), examples=EXAMPLES, seed=1)
    failure = caught.value
    assert isinstance(failure, AssertionError)
    assert failure.rule.startswith("ADP-ROUNDTRIP-001 (MUST")
    assert "ns" in failure.reason
    assert failure.example is not None and "minimal example: {" in str(failure)
    assert failure.report is not None and failure.report.results[-1].case.id == "ADP-ROUNDTRIP-001"
    assert [r.outcome for r in failure.report.results[:-1]] == ["passed"] * (len(failure.report.results) - 1)


def test_a_lost_payload_byte_fails_and_no_case_runs_after_it():
    profile = _profile_for(ByteDroppingAdapter)
    with pytest.raises(CheckFailed, match="ADP-PAYLOAD-001") as caught:
        check_adapter(lambda card: ByteDroppingAdapter(card, profile), examples=EXAMPLES, seed=1)
    assert caught.value.report.results[-1].case.id == "ADP-PAYLOAD-001"  # the end-to-end cases never ran


def test_a_should_failure_is_a_warning_or_with_strict_a_failure():
    profile = _profile_for(QuietAboutAtomicsAdapter)
    with pytest.warns(ConformanceWarning, match="ADP-CAPS-002.*FETCH_ADD.*atomics"):
        report = check_adapter(lambda card: QuietAboutAtomicsAdapter(card, profile), examples=EXAMPLES, seed=1,
                               cases=["ADP-DECL-001", "ADP-CAPS-002"])
    assert report.failed() == ["ADP-CAPS-002"] and report.conforms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckFailed, match="ADP-CAPS-002 \\(SHOULD"):
            check_adapter(lambda card: QuietAboutAtomicsAdapter(card, profile), examples=EXAMPLES, seed=1,
                          cases=["ADP-CAPS-002"], strict=True)


def test_an_adapter_its_profile_does_not_describe_fails_the_declarations():
    profile = replace(load_profile("mi300x-like"), adapter="pcie-tlp")  # says vendor-descriptor's native family
    with pytest.raises(CheckFailed, match=r"ADP-DECL-001.*native is 'pcie'.*says 'vendor'"):
        check_adapter(lambda card: PcieTlpAdapter(card, replace(profile, native="vendor")), examples=EXAMPLES)


@pytest.mark.parametrize(("make", "keyword", "words"), [
    ("not callable", "make_adapter", "expected a callable"),
    (lambda card: object(), "make_adapter", "not a DeviceAdapter"),
])
def test_check_adapter_refuses_a_factory_it_cannot_use(make, keyword, words):
    with pytest.raises(UsageError, match=words) as caught:
        check_adapter(make)
    assert keyword in str(caught.value)


@pytest.mark.parametrize(("arguments", "keyword"), [
    ({"examples": 0}, "examples"), ({"examples": True}, "examples"), ({"strict": "yes"}, "strict"),
    ({"cases": ["ADP-NOPE-001"]}, "ADP-NOPE-001"),
])
def test_check_adapter_names_the_argument_it_cannot_use(arguments, keyword):
    profile = load_profile("mi300x-like")
    with pytest.raises(UsageError) as caught:
        check_adapter(lambda card: VendorDescriptorAdapter(card, profile), **arguments)
    assert keyword in str(caught.value)


# -- check_link --------------------------------------------------------------------------------------

class ReorderingEndpoint(LinkEndpoint):
    """Hands over the messages a frame completes last first: a burst in one frame arrives reversed."""

    def receive_frame(self, frame: bytes, now: int) -> list[Message]:
        return list(reversed(super().receive_frame(frame, now)))


class LosingEndpoint(LinkEndpoint):
    """Acknowledges and then forgets the third message it receives."""

    def __init__(self, config: LinkConfig, name: str) -> None:
        super().__init__(config, name=name)
        self.received = 0

    def receive_frame(self, frame: bytes, now: int) -> list[Message]:
        kept = []
        for message in super().receive_frame(frame, now):
            self.received += 1
            if self.received != 3:
                kept.append(message)
        return kept


class GreedyEndpoint(LinkEndpoint):
    """Sends whatever it has queued, whether or not the peer has the buffer space for it."""

    def __init__(self, config: LinkConfig, name: str) -> None:
        super().__init__(config, name=name)
        self._send_credits.can_send = lambda key, hdr, data: True  # the one bug: credits are never asked


def test_oisa_link_endpoints_pass_check_link():
    check_link(oisa_pair, examples=30, seed=3)


@pytest.mark.parametrize(("broken", "words", "most"), [
    (ReorderingEndpoint, "keep the order sent", 3),  # two messages in one frame show it
    (LosingEndpoint, "the first missing", 4),  # the third message is lost
    (GreedyEndpoint, "[ab] holds -1 header credits for VC 0 NON_POSTED, outside 0 to the 4 [ab] advertised", 9),
])
def test_a_link_endpoint_that_reorders_loses_or_overdraws_fails_with_the_minimal_run(broken, words, most):
    with pytest.raises(CheckFailed, match=words) as caught:
        check_link(lambda: (broken(CONFIG, name="a"), broken(CONFIG, name="b")), examples=100, seed=0)
    failure = caught.value
    assert failure.rule == "every message once, in order, within credits"
    assert set(failure.example) == {"messages", "faults", "release_delay_ps"}
    assert 1 <= len(failure.example["messages"]) <= most  # shrunk to the few messages that show it


@pytest.mark.parametrize(("make", "words"), [
    ("not callable", "expected a callable"),
    (lambda: LinkEndpoint(CONFIG), "not a tuple of two endpoints"),
    (lambda: (LinkEndpoint(CONFIG), object()), "endpoint b \\(object\\) lacks start, queue"),
])
def test_check_link_refuses_a_factory_it_cannot_use(make, words):
    with pytest.raises(UsageError, match=words) as caught:
        check_link(make)
    assert "make_pair" in str(caught.value)


@pytest.mark.parametrize(("arguments", "keyword"), [
    ({"examples": 0}, "examples"), ({"seed": -1}, "seed"), ({"settle_ps": 0}, "settle_ps"),
])
def test_check_link_names_the_argument_it_cannot_use(arguments, keyword):
    with pytest.raises(UsageError) as caught:
        check_link(oisa_pair, **arguments)
    assert keyword in str(caught.value)


# -- the shipped state machine ---------------------------------------------------------------------

def test_the_shipped_link_state_machine_passes_oisa_endpoints():
    run_state_machine_as_test(link_state_machine(oisa_pair), settings=settings(max_examples=10,
                                                                               stateful_step_count=20))


def test_the_shipped_link_state_machine_catches_a_broken_link_layer():
    """One broken layer only: a state machine shrinks slowly (the reordering and the greedy
    endpoints take over a minute each here), and check_link above catches all three."""
    machine = link_state_machine(lambda: (LosingEndpoint(CONFIG, name="a"), LosingEndpoint(CONFIG, name="b")),
                                 name="Losing")
    with pytest.raises(AssertionError, match=r"keep the order sent|the first missing"):  # later ones move up
        run_state_machine_as_test(machine, settings=settings(max_examples=200, stateful_step_count=20,
                                                             report_multiple_bugs=False, print_blob=False))


def test_a_state_machine_without_a_factory_says_so():
    from oisa.testing import LinkStateMachine

    class Unfinished(LinkStateMachine):
        pass

    with pytest.raises(TypeError, match="sets no make_pair"):
        Unfinished()
