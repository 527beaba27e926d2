"""The example third-party plug-in, installed as the README says, is found and runs in a fabric."""

from pathlib import Path

from oisa.device.registry import adapters
from oisa.fabric import load_fabric
from oisa.report import device_listing
from oisa.workload import Run, run_p2p

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_plugin_appears_in_oisa_devices():
    assert "example-xlink" in adapters(), "install it: pip install -e ./devices/example-vendor (see README.md)"
    listing = device_listing()
    [profile] = [p for p in listing["profiles"] if p["name"] == "example-gpu"]
    [adapter] = [a for a in listing["adapters"] if a["name"] == "example-xlink"]
    assert profile["origin"] == adapter["origin"] == "plug-in (oisa-example-vendor)"


def test_the_example_plugin_runs_in_a_fabric_both_ways():
    spec = load_fabric(ROOT / "devices" / "example-vendor" / "fabric-example.toml")
    for src, dst in ((0, 1), (1, 0)):
        assert run_p2p(spec, Run(seed=4), src=src, dst=dst, size=64 * 1024).verified
