"""The figures the README's "Tenants and isolation" section quotes, computed again."""

from pathlib import Path

from oisa.fabric import load_fabric
from oisa.fabric.build import LinkEncryption
from oisa.fabric.tenancy import load_tenancy
from oisa.sim.faults import FaultModel
from oisa.workload import run_p2p
from oisa.workload.collectives import run_collective
from oisa.workload.isolation import run_isolation
from oisa.workload.loadstore import run_loadstore
from oisa.workload.run import Run

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "README.md").read_text().split("## Tenants and isolation\n")[1].split("\n## ")[0]
MiB = 1 << 20


def test_the_cost_of_encryption_is_what_the_readme_says():
    pair = load_fabric("pair")
    clear = run_p2p(pair, Run(engine="timing"), size=64 * MiB).write.bandwidth
    sealed = run_p2p(pair, Run(engine="timing", encryption=LinkEncryption()), size=64 * MiB).write.bandwidth
    assert f"| {clear / 1e9:.2f} GB/s | {sealed / 1e9:.2f} GB/s | {sealed / clear - 1:.1%}" in SECTION
    supernode = load_fabric("supernode-64")
    times = [run_loadstore(supernode, Run(encryption=e), background=0).idle["load"].p50_ps
             for e in (None, LinkEncryption())]
    assert f"| {times[0] / 1000:.2f} ns | {times[1] / 1000:.2f} ns | +{(times[1] - times[0]) // 1000} ns" in SECTION
    busbw = [run_collective(supernode, "allreduce", Run(engine="timing", encryption=e), size=64 * MiB,
                            cards=tuple(range(8))).busbw for e in (None, LinkEncryption())]
    assert f"busbw {busbw[0] / 1e9:.2f} GB/s | {busbw[1] / 1e9:.2f} GB/s | {busbw[1] / busbw[0] - 1:.1%}" in SECTION


def test_the_attack_and_the_probe_are_what_the_readme_says():
    attacked = run_p2p(load_fabric("pair"), Run(encryption=LinkEncryption(), faults=FaultModel(tamper=0.01,
                                                                                              substitute=0.01)),
                       size=MiB)
    shown = attacked.encryption
    assert attacked.verified
    assert (f"{shown['frames_tampered']} flits tampered and {shown['frames_substituted']} substituted, "
            f"{shown['mac_failures']} refused by their MAC") in " ".join(SECTION.split())
    assert f"ran at {attacked.write.bandwidth / 1e9:.1f} GB/s" in SECTION
    supernode = load_fabric("supernode-64")
    tenancy = load_tenancy(ROOT / "tenancies" / "supernode-64-two-tenants.toml", supernode)
    probed = run_isolation(supernode, Run(tenancy=tenancy))
    reads, writes, spoofs = (probed.attempts[kind] for kind in ("read", "write", "spoof"))
    text = " ".join(SECTION.split())
    assert (f"{reads.tried} reads ({reads.granted} wholly granted, {reads.failed} refused), {writes.tried} writes "
            f"({writes.granted} granted) and {spoofs.tried} spoofed writes") in text
    refused = probed.refusals
    assert (f"refused {refused['window']} accesses outside windows, {refused['partition']} across partitions"
            in text and f"dropped all {refused['spoofed']} spoofs" in text)
