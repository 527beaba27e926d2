"""A tenancy enforced where the hardware enforces it: windows at the destination card, source IDs
and partitions at the ingress port; nothing refused touches memory, and every refusal is counted."""

from pathlib import Path

import pytest

from oisa.device.isolation import Window
from oisa.errors import AccessDenied, UsageError
from oisa.fabric import load_fabric
from oisa.fabric.tenancy import Partition, tenancy
from oisa.report import result_json, result_text
from oisa.transaction import Completer, refusal
from oisa.wire.oisa import Message, Opcode, Status
from oisa.workload import run_p2p
from oisa.workload.engines import ENGINES
from oisa.workload.run import Run

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["mesh-8", "supernode-64[servers=2]"])
def spec(request):
    name, _, rest = request.param.partition("[")
    return load_fabric(name, {"servers": 2} if rest else None)


def two_tenants(spec, *, windows=None, partitions=None):
    ids = [card.id for card in spec.cards]
    return tenancy(spec, {"a": ids[:2], "b": ids[2:4]},
                   windows if windows is not None else
                   [Window("a", ids[1], 0, MiB, True, True), Window("b", ids[3], 0, MiB, True, True)], partitions)


def run_on(spec, t, body):
    return ENGINES["data"].execute(spec, Run(engine="data", tenancy=t), body)


def test_accesses_outside_windows_partitions_and_spoofs_are_refused_and_touch_nothing(spec):
    t = two_tenants(spec)
    a0, a1, b0, b1 = (card.id for card in spec.cards[:4])

    async def body(fabric, run):
        await fabric.bring_up()
        card = fabric.card(a0)
        card.memory.write(0, b"\x5a" * 4096)
        fabric.card(a1).memory.write(MiB, b"\x11" * 64)
        granted = await card.dma_write(a1, 0x100, 0, 4096)
        outside = await card.dma_write(a1, MiB, 0, 64)
        across = await card.dma_read(b1, 0, 0x10000, 64)
        straddling = await card.dma_read(a1, MiB - 32, 0x20000, 64)
        card.send(Message(Opcode.MEM_WR, b0, b1, length=64, address=0, payload=b"\xee" * 64))
        await fabric.kernel.sleep(10_000_000)
        return (granted, outside, across, straddling, fabric.card(a1).memory.read(0x100, 4096),
                fabric.card(a1).memory.read(MiB, 64), fabric.card(b1).memory.read(0, 64),
                card.memory.read(0x10000, 64), card.memory.read(0x20000, 64), fabric.refusals.as_dict())

    granted, outside, across, straddling, landed, kept, untouched, no_read, no_read_2, refused = run_on(spec, t, body)
    assert granted.status is Status.SC and landed == b"\x5a" * 4096
    assert outside.status is Status.CA and kept == b"\x11" * 64
    assert across.status is Status.UR and no_read == bytes(64)
    assert straddling.status is Status.CA and no_read_2 == bytes(64)
    assert untouched == bytes(64)
    assert refused["spoofed"] == 1
    assert refused["partition"] == 1
    assert refused["window"] >= 2  # the refused write's pieces and flush reads, and the straddling read


def test_a_plan_that_oversteps_fails_with_access_denied_naming_the_status(spec):
    ids = [card.id for card in spec.cards]
    t = two_tenants(spec, windows=[Window("a", ids[1], 0, 4096, True, True)])
    with pytest.raises(AccessDenied) as raised:
        run_p2p(spec, Run(tenancy=t), src=ids[0], dst=ids[1], size=8192)
    assert raised.value.code in (Status.CA, Status.UR)
    assert "was refused" in str(raised.value) and "\n" not in str(raised.value)


def test_a_run_within_the_grants_reports_zero_refusals_and_its_figures_are_unchanged(spec):
    ids = [card.id for card in spec.cards]
    t = two_tenants(spec)
    plain = run_p2p(spec, Run(), src=ids[0], dst=ids[1], size=64 * 1024)
    guarded = run_p2p(spec, Run(tenancy=t), src=ids[0], dst=ids[1], size=64 * 1024)
    assert guarded.verified and guarded.isolation == {"window": 0, "partition": 0, "spoofed": 0}
    assert guarded.write == plain.write and guarded.read == plain.read  # checks cost no virtual time
    assert "isolation" not in result_json(plain) and result_json(guarded)["isolation"]["window"] == 0
    assert "refused" in result_text(guarded) and "refused" not in result_text(plain)


def test_cards_in_one_partition_reach_each_other_across_tenants(spec):
    ids = [card.id for card in spec.cards]
    t = two_tenants(spec, windows=[Window("a", ids[2], 0, MiB, True, True)],
                    partitions=[Partition("shared", tuple(ids[:4]))])
    result = run_p2p(spec, Run(tenancy=t), src=ids[0], dst=ids[2], size=4096)
    assert result.verified and result.isolation["partition"] == 0


def test_tenants_need_the_data_engine(spec):
    with pytest.raises(UsageError, match="only the data engine") as raised:
        run_p2p(spec, Run(engine="timing", tenancy=two_tenants(spec)), size=4096)
    assert raised.value.parameter == "tenancy"
    with pytest.raises(UsageError, match=r"expected an oisa\.fabric\.tenancy\.Tenancy"):
        Run(tenancy={"a": [0]})


def test_a_refusal_is_answered_as_the_request_kind_needs():
    read = Message(Opcode.MEM_RD, 1, 2, tag=7, length=64, address=0x40)
    [answer] = refusal(read, Status.CA, responder=9)
    assert (answer.opcode, answer.src, answer.dst, answer.tag, answer.aux) == (Opcode.CPL, 9, 1, 7, Status.CA)
    assert refusal(Message(Opcode.MEM_WR, 1, 2, length=4, payload=b"abcd"), Status.UR, responder=2) == []
    [poisoned] = refusal(Message(Opcode.CXL_MEM_RD, 1, 2, length=64), Status.CA, responder=2)
    assert poisoned.opcode is Opcode.CXL_DRS and poisoned.ep
    with pytest.raises(ValueError, match="other than successful"):
        refusal(read, Status.SC, responder=2)


def test_the_completer_refuses_without_touching_memory():
    class Memory:
        touched = False

        def contains(self, address, length):
            return True

        def read(self, address, length):
            Memory.touched = True
            return bytes(length)

        def write(self, address, data):
            Memory.touched = True

    completer = Completer(2, Memory(), max_payload=256)
    [answer] = completer.refuse(Message(Opcode.DMA_WR, 1, 2, tag=3, length=4, payload=b"abcd"), Status.CA)
    assert answer.aux == Status.CA and completer.refused == 1 and not Memory.touched


def test_the_json_keys_of_tenant_runs_are_exactly_the_documented_ones(spec):
    from oisa.fabric.tenancy import load_tenancy
    from oisa.workload.isolation import run_isolation
    from tests.test_specs import documented_keys, flatten

    ids = [card.id for card in spec.cards]
    plain = run_p2p(spec, Run(), src=ids[0], dst=ids[1], size=4096)
    guarded = run_p2p(spec, Run(tenancy=two_tenants(spec)), src=ids[0], dst=ids[1], size=4096)
    added = flatten(result_json(guarded)) - flatten(result_json(plain))
    assert added == documented_keys("`oisa run --tenants FILE`")
    if spec.name == "mesh-8":
        return
    big = load_fabric("supernode-64")
    probed = run_isolation(big, Run(tenancy=load_tenancy(ROOT / "tenancies" / "supernode-64-two-tenants.toml", big)),
                           attempts=2)
    assert flatten(result_json(probed)) == documented_keys("`oisa run --workload isolation --tenants FILE`")
    assert probed.verified and probed.refusals["spoofed"] == probed.attempts["spoof"].tried
