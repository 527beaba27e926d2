"""The training step: compute, overlapped all-reduce, balance, spilling, sharding, the scenario."""


import pytest

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.report import result_json
from oisa.workload import Run
from oisa.workload.training import MODELS, STATE_BYTES_PER_PARAMETER, WEIGHT_BYTES, run_training


@pytest.fixture(scope="module")
def supernode():
    return load_fabric("supernode-64")


@pytest.fixture(scope="module")
def switched():
    return load_fabric("switched-64")


def test_a_step_is_compute_then_optimizer_plus_what_communication_it_could_not_hide(supernode):
    result = run_training(supernode, model="gpt2-xl", cards=[0, 1, 2, 3])
    assert result.step_ps == result.compute_ps + result.optimizer_ps + result.exposed_comm_ps
    assert result.exposed_comm_ps > 0 and result.spill_to == "none"
    assert 0.5 < result.scaling_efficiency < 1 and 0 < result.peak_share < result.scaling_efficiency


def test_one_card_alone_is_its_own_yardstick(supernode):
    result = run_training(supernode, model="gpt2-xl", cards=[0])
    assert result.algorithm == "none" and result.frames == 0
    assert result.scaling_efficiency == pytest.approx(1, rel=1e-6)


def test_more_buckets_hide_more_of_the_all_reduce(switched):
    one, eight = (run_training(switched, model="gpt2-xl", cards=[0, 16], buckets=b) for b in (1, 8))
    assert eight.exposed_comm_ps < one.exposed_comm_ps and eight.step_ps < one.step_ps


def test_tokens_follow_compute_rates_so_a_slow_card_does_not_hold_everyone_back(supernode):
    cards = [0, 12]  # an h100-like card and a much slower mtt-like one
    balanced, even = (run_training(supernode, model="gpt2-xl", cards=cards, balance=b) for b in (True, False))
    assert balanced.tokens[0] > balanced.tokens[12] and even.tokens[0] == even.tokens[12]
    assert sum(balanced.tokens.values()) == pytest.approx(sum(even.tokens.values()), abs=2)
    assert balanced.tokens_per_s > 1.5 * even.tokens_per_s


def test_state_a_card_cannot_hold_spills_to_the_host_switched_and_to_peers_in_the_supernode(supernode, switched):
    model = MODELS["llama-7b"]
    need = model.parameters * STATE_BYTES_PER_PARAMETER
    host, peers = (run_training(spec, model="llama-7b", cards=[0]) for spec in (switched, supernode))
    assert host.spill_to == "host" and peers.spill_to == "peers"
    assert host.spill_bytes == peers.spill_bytes == need - supernode.card(0).device.capacity
    fits = run_training(supernode, model="llama-7b", cards=[4])  # an mi300x-like card holds it
    assert fits.spill_to == "none"
    # striped over idle peers on eight planes, a spill costs far less than over one PCIe link
    assert fits.scaling_efficiency > peers.scaling_efficiency > 1.5 * host.scaling_efficiency


def test_sharding_holds_weights_whole_and_splits_the_rest(supernode):
    model = MODELS["llama-7b"]
    sharded = run_training(supernode, model="llama-7b", cards=[0, 1], shard=True)
    assert sharded.held_bytes == model.parameters * (WEIGHT_BYTES + (STATE_BYTES_PER_PARAMETER - WEIGHT_BYTES) // 2)
    assert sharded.spill_to == "none"
    whole = run_training(supernode, model="llama-7b", cards=[0, 1])
    assert whole.spill_bytes > 0 and sharded.tokens_per_s > whole.tokens_per_s


def test_the_supernode_trains_more_efficiently_than_the_switched_baseline(supernode, switched):
    fast, slow = (run_training(spec, model="gpt2-xl", cards=list(range(8))) for spec in (supernode, switched))
    assert fast.scaling_efficiency > slow.scaling_efficiency and fast.step_ps < slow.step_ps


def test_training_results_depend_only_on_the_seed(supernode):
    runs = [result_json(run_training(supernode, Run(seed=3), model="gpt2-xl", cards=[0, 4, 8])) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "gpt-5"}, "model='gpt-5': expected one of"),
    ({"tokens": 0}, "tokens=0: must be 1 or more"),
    ({"spill": "disk"}, "spill='disk': expected one of auto, host, peers"),
    ({"precision": "int4"}, "precision='int4': .* has no such rate"),
    ({"spill": "host", "model": "llama-7b"}, "has no host"),
])
def test_training_mistakes_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        run_training(load_fabric("pair"), **{"model": "gpt2-xl", **kwargs})


def test_a_step_runs_on_the_flow_engine_unless_frames_are_asked_for_and_both_engines_agree(switched):
    """Training defaults to the flow engine because it times the same plan as timing mode in a
    fraction of the wall time: the step must agree within the README's 5% for a collective."""
    flow = run_training(switched, model="gpt2-xl", cards=[0, 16])
    timing = run_training(switched, Run(engine="timing"), model="gpt2-xl", cards=[0, 16])
    assert (flow.mode, timing.mode) == ("flow", "timing")
    assert flow.step_ps == pytest.approx(timing.step_ps, rel=0.05)
    assert flow.exposed_comm_ps == pytest.approx(timing.exposed_comm_ps, rel=0.05, abs=0.01 * timing.step_ps)
