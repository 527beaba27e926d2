"""Point to point on the pair fabric, end to end through every layer."""

import pytest

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.report import p2p_json
from oisa.units import S
from oisa.workload import Run, run_p2p


@pytest.fixture(scope="module")
def pair():
    return load_fabric("pair")


def test_bytes_arrive_and_read_back_intact(pair):
    result = run_p2p(pair, Run(seed=1), src=0, dst=1, size=1 << 20)
    assert result.verified


def test_bandwidth_stays_below_the_link_rate_and_near_its_flit_efficiency(pair):
    link = pair.links[0]
    result = run_p2p(pair, Run(seed=1), src=0, dst=1, size=1 << 20)
    rate = link.rate_bps / 8
    # H100-like cards are PCIe-native: 256-byte writes, and 256-byte read completions.
    # 236 of 256 flit bytes carry the stream; 256 of each 276-byte message are payload.
    payload = int(pair.cards[0].device.max_payload.value)
    ceiling = rate * 236 / 256 * payload / (payload + 20)
    for phase in (result.write, result.read):
        assert phase.bandwidth < ceiling
        assert phase.bandwidth > 0.9 * ceiling


def test_a_small_transfer_costs_at_least_a_round_trip(pair):
    result = run_p2p(pair, Run(seed=0), src=1, dst=0, size=64)
    assert result.write.time_ps >= 2 * pair.links[0].latency_ps
    assert result.verified


def test_the_same_seed_gives_the_same_result(pair):
    first = p2p_json(run_p2p(pair, Run(seed=7), src=0, dst=1, size=100_000))
    assert p2p_json(run_p2p(pair, Run(seed=7), src=0, dst=1, size=100_000)) == first


def test_the_result_does_not_depend_on_trio_scheduling(pair):
    import trio

    results = []
    for trio_seed in (1, 2):
        trio._core._run._r.seed(trio_seed)
        results.append(p2p_json(run_p2p(pair, Run(seed=3), src=0, dst=1, size=50_000)))
    assert results[0] == results[1]


@pytest.mark.parametrize(("src", "dst", "error", "message"),
                         [(0, 0, UsageError, "src=0, dst=0: the same card"),
                          (0, 9, UsageError, "dst=9: fabric pair has no card 9")])
def test_bad_card_choices_are_refused(pair, src, dst, error, message):
    with pytest.raises(error, match=message):
        run_p2p(pair, src=src, dst=dst, size=64)


def test_bandwidth_is_bytes_over_time(pair):
    result = run_p2p(pair, Run(seed=0), src=0, dst=1, size=8192)
    assert result.write.bandwidth == pytest.approx(8192 * S / result.write.time_ps)
