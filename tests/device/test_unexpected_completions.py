"""A forged completion on a running fabric is dropped by the card it reaches (PCIe's Unexpected
Completion), counted, and changes neither the run's outcome nor the bytes a genuine read returns."""

from oisa.fabric import load_fabric
from oisa.wire.oisa import Message, Opcode, Status
from oisa.workload.engines import ENGINES
from oisa.workload.run import Run


def test_forged_completions_are_counted_and_dropped_and_the_read_completes():
    spec = load_fabric("mesh-8")
    reader, target, forger = (card.id for card in spec.cards[:3])

    async def body(fabric, run):
        await fabric.bring_up()
        fabric.card(target).memory.write(0, bytes(range(256)) * 16)
        read = fabric.card(reader).post_read(target, 0, 0x1000, 4096)
        # while the read is outstanding: a completion with its first tag but from the wrong
        # completer, and one with a tag no engine of the reader hands out
        for tag in (0, 0xFFFF):
            fabric.card(forger).send(Message(Opcode.CPL_D, forger, reader, tag=tag, length=64, address=0,
                                             payload=b"\xee" * 64))
        await read.wait()
        await fabric.kernel.sleep(10_000_000)
        return read, fabric.card(reader).memory.read(0x1000, 4096), fabric.card(reader).movement.unexpected_completions

    read, landed, unexpected = ENGINES["data"].execute(spec, Run(engine="data"), body)
    assert read.status is Status.SC and landed == bytes(range(256)) * 16
    assert unexpected == 2
