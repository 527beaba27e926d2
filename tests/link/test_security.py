"""Encrypted links: flits altered on the wire (CRC recomputed) or swapped for earlier ones are
caught by their MAC, refused, replayed by the sender, and never delivered (issue 22, item 4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.errors import IntegrityError, RemoteProtocolError
from oisa.link import LinkConfig, LinkEndpoint
from oisa.link.security import FlitCipher, LinkSecurity
from oisa.sim.faults import FaultModel, WireFaults
from oisa.testing.link import LinkPair
from oisa.wire.oisa import Message, Opcode

KEY_AB, KEY_BA = bytes(range(32)), bytes(range(32, 64))


def encrypted_pair(config, mac_bytes=12):
    a = LinkEndpoint(config, name="a", security=LinkSecurity(FlitCipher(KEY_AB, 0, mac_bytes),
                                                             FlitCipher(KEY_BA, 1, mac_bytes)))
    b = LinkEndpoint(config, name="b", security=LinkSecurity(FlitCipher(KEY_BA, 1, mac_bytes),
                                                             FlitCipher(KEY_AB, 0, mac_bytes)))
    return a, b


def attacker(model, seed):
    wires = {d: WireFaults(model, np.random.default_rng([seed, i])) for i, d in enumerate(("a->b", "b->a"))}
    return wires, lambda direction, frame: wires[direction].apply(frame, 0)


def writes(count, seed):
    rng = np.random.default_rng(seed)
    return [Message(Opcode.MEM_WR, 1, 2, length=256, address=i * 256, payload=rng.bytes(256)) for i in range(count)]


def run_pair(endpoints, fault, messages):
    pair = LinkPair(LinkConfig(), endpoints=endpoints, fault=fault, latency_ps=20_000)
    for message in messages:
        pair.send("a", message)
    for _ in range(200_000):
        if not pair.step() or (len(pair.delivered("b")) == len(messages) and pair.quiet()):
            break
    return pair


def test_a_sealed_payload_opens_only_with_its_counter_header_and_key():
    cipher = FlitCipher(KEY_AB, 0)
    sealed = cipher.seal(7, b"hd", b"payload")
    assert len(sealed) == len(b"payload") + 12 and b"payload" not in sealed
    assert cipher.open(7, b"hd", sealed) == b"payload"
    for counter, header, data, key, direction in ((8, b"hd", sealed, KEY_AB, 0), (7, b"hD", sealed, KEY_AB, 0),
                                                  (7, b"hd", bytes([sealed[0] ^ 1]) + sealed[1:], KEY_AB, 0),
                                                  (7, b"hd", sealed, KEY_BA, 0), (7, b"hd", sealed, KEY_AB, 1)):
        with pytest.raises(IntegrityError, match="MAC mismatch"):
            FlitCipher(key, direction).open(counter, header, data)
    with pytest.raises(ValueError, match="32 bytes"):
        FlitCipher(b"short", 0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tamper=st.sampled_from([0.05, 0.2]), substitute=st.sampled_from([0.0, 0.1]))
def test_tampered_and_substituted_flits_are_never_delivered(seed, tamper, substitute):
    messages = writes(40, seed)
    wires, fault = attacker(FaultModel(tamper=tamper, substitute=substitute), seed)
    pair = run_pair(encrypted_pair(LinkConfig()), fault, messages)
    assert [(m.address, m.payload) for m in pair.delivered("b")] == [(m.address, m.payload) for m in messages]
    attacks = sum(w.stats.frames_tampered + w.stats.frames_substituted for w in wires.values())
    assert pair.b.stats.mac_failures + pair.a.stats.mac_failures >= 1 or attacks == 0
    assert pair.a.stats.flits_replayed >= pair.b.stats.mac_failures  # each refused flit came again


def test_without_encryption_the_same_attack_goes_undetected():
    messages = writes(40, 3)
    _, fault = attacker(FaultModel(tamper=0.2), 3)
    try:
        pair = run_pair((LinkEndpoint(LinkConfig(), name="a"), LinkEndpoint(LinkConfig(), name="b")), fault, messages)
    except RemoteProtocolError:
        return  # the altered bytes broke a message header: caught, but only by luck
    assert [m.payload for m in pair.delivered("b")] != [m.payload for m in messages]


def test_the_mac_costs_payload_capacity():
    plain = LinkEndpoint(LinkConfig(flit_size=256))
    sealed, _ = encrypted_pair(LinkConfig(flit_size=256))
    wide, _ = encrypted_pair(LinkConfig(flit_size=256), mac_bytes=16)
    assert plain.capacity - sealed.capacity == 12 and plain.capacity - wide.capacity == 16


def test_the_json_keys_of_encrypted_runs_are_exactly_the_documented_ones():
    from oisa.fabric import load_fabric
    from oisa.fabric.build import LinkEncryption
    from oisa.report import result_json
    from oisa.workload import run_p2p
    from oisa.workload.p2p import link_security
    from oisa.workload.run import Run
    from tests.test_specs import documented_keys, flatten

    pair = load_fabric("pair")
    plain = run_p2p(pair, Run(), size=4096)
    sealed = run_p2p(pair, Run(encryption=LinkEncryption()), size=4096)
    documented = documented_keys("`oisa run --encrypt-links`")
    assert flatten(result_json(sealed)) - flatten(result_json(plain)) == documented
    assert link_security(Run(faults=FaultModel(tamper=0.5)), {}, {"frames_tampered": 3}) == {
        "mac_bytes": 0, "mac_failures": 0, "frames_tampered": 3, "frames_substituted": 0}
    assert link_security(Run(), {}, {}) is None
    assert sealed.write.time_ps > plain.write.time_ps  # the MAC's bytes and the added latency cost time


def test_data_and_timing_engines_agree_on_an_encrypted_link():
    from oisa.fabric import load_fabric
    from oisa.fabric.build import LinkEncryption
    from oisa.workload import run_p2p
    from oisa.workload.run import Run

    pair = load_fabric("pair")
    data, timing = (run_p2p(pair, Run(engine=engine, encryption=LinkEncryption()), size=1 << 20)
                    for engine in ("data", "timing"))
    assert data.verified
    assert abs(timing.write.time_ps / data.write.time_ps - 1) < 0.02
    assert abs(timing.read.time_ps / data.read.time_ps - 1) < 0.02
