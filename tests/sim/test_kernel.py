"""The virtual-time kernel: ordering, determinism, deadlock detection, cancellation."""

import signal
import subprocess
import sys
import time

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import SimulationDeadlock
from oisa.sim import Inbox, Kernel, Signal
from oisa.units import NS


def test_callbacks_run_in_time_then_scheduling_order():
    kernel = Kernel()
    seen = []

    async def main():
        kernel.call_at(20, seen.append, "b")
        kernel.call_at(10, seen.append, "a")
        kernel.call_at(20, seen.append, "c")  # same instant as "b", scheduled later
        await kernel.sleep(30)
        return kernel.now

    assert kernel.run(main) == 30
    assert seen == ["a", "b", "c"]


def test_sleep_advances_virtual_time_only():
    kernel = Kernel()

    async def main():
        await kernel.sleep(5 * NS)
        first = kernel.now
        await kernel.sleep(0)
        return first, kernel.now, trio.current_time()

    first, second, trio_now = kernel.run(main)
    assert (first, second) == (5 * NS, 5 * NS)
    assert trio_now == pytest.approx(5e-9)


def test_trio_sleep_also_runs_in_virtual_time():
    kernel = Kernel()

    async def main():
        await trio.sleep(2e-6)
        return kernel.now

    assert kernel.run(main) == 2_000_000


def test_scheduling_in_the_past_is_refused():
    kernel = Kernel()

    async def main():
        await kernel.sleep(10)
        kernel.call_at(5, lambda: None)

    with pytest.raises(ValueError, match="past"):
        kernel.run(main)


def test_deadlock_is_reported_with_what_each_task_waits_for():
    kernel = Kernel()

    async def main():
        inbox = Inbox[int](kernel, "an empty inbox")
        await inbox.get()

    with pytest.raises(SimulationDeadlock, match="an empty inbox"):
        kernel.run(main)


def test_an_error_in_a_background_task_ends_the_run_as_itself():
    kernel = Kernel()

    async def failing():
        await kernel.sleep(10)
        raise KeyError("boom")

    async def main():
        kernel.spawn(failing)
        await kernel.sleep(100)

    with pytest.raises(KeyError, match="boom"):
        kernel.run(main)


def test_cancelled_sleep_does_not_wake_a_later_wait():
    kernel = Kernel()

    async def main():
        with trio.move_on_after(1e-9):  # virtual: 1000 ps
            await kernel.sleep(5000)
        signal = Signal[str](kernel, "late")
        kernel.call_at(10_000, signal.set, "set at 10000")
        value = await signal.wait()
        return value, kernel.now

    assert kernel.run(main) == ("set at 10000", 10_000)


def test_inbox_serves_waiting_consumers_in_arrival_order():
    kernel = Kernel()

    async def main():
        inbox = Inbox[int](kernel, "jobs")
        got = []

        async def consumer(name):
            while True:
                got.append((name, await inbox.get(), kernel.now))
                await kernel.sleep(10)  # busy with the item

        for name in "abc":
            kernel.spawn(consumer, name)
        await kernel.sleep(1)
        for item in range(5):
            inbox.put(item)
        await kernel.sleep(100)
        return got

    assert kernel.run(main) == [("a", 0, 1), ("b", 1, 1), ("c", 2, 1), ("a", 3, 11), ("b", 4, 11)]


def _chatter(kernel: Kernel, nodes: int, rounds: int, delays: list[int]) -> list[tuple[int, int, int]]:
    """Tasks that wake at shared instants and record the order they ran in."""
    log: list[tuple[int, int, int]] = []

    async def main():
        inboxes = [Inbox[int](kernel, f"n{i}") for i in range(nodes)]

        async def node(i):
            for _ in range(rounds):
                hop = await inboxes[i].get()
                log.append((kernel.now, i, hop))
                target = (i * 7 + hop) % nodes
                kernel.call_later(delays[(i + hop) % len(delays)], inboxes[target].put, hop + 1)

        for i in range(nodes):
            kernel.spawn(node, i)
            inboxes[i].put(0)
        await kernel.sleep(10**9)

    kernel.run(main)
    return log


@given(st.integers(2, 12), st.lists(st.integers(0, 3), min_size=1, max_size=4), st.integers(0, 2**31))
def test_results_do_not_depend_on_how_trio_batches_tasks(nodes, delays, trio_seed):
    """Releasing every task woken at an instant in one batch orders exactly as releasing one
    per pass, and neither depends on trio's own scheduling randomness."""
    one_by_one = _chatter(Kernel(batch_release=False), nodes, 6, delays)
    trio._core._run._r.seed(trio_seed)
    batched = _chatter(Kernel(batch_release=True), nodes, 6, delays)
    assert batched == one_by_one


def test_an_error_in_a_callback_ends_the_run_as_itself():
    kernel = Kernel()

    def explode():
        raise ZeroDivisionError("in a callback")

    async def main():
        kernel.call_later(50, explode)
        await kernel.sleep(1000)

    with pytest.raises(ZeroDivisionError, match="in a callback"):
        kernel.run(main)


def test_no_callback_runs_once_the_result_is_in():
    """The run is over when the workload returns: timers still pending (a completion timeout,
    a background task's wake-up) neither run nor move the clock while trio winds down."""
    kernel = Kernel()
    seen = []

    async def background():
        await kernel.sleep(10**9)

    async def main():
        kernel.spawn(background)
        kernel.call_at(1000, seen.append, "late")
        await kernel.sleep(10)
        return "done"

    assert kernel.run(main) == "done"
    assert seen == []
    assert kernel.now == 10


def test_an_error_before_spawned_tasks_start_ends_the_run_as_itself():
    kernel = Kernel()

    async def main():
        kernel.spawn(kernel.sleep, 10)
        raise MemoryError("no room for the buffers")  # before the spawned task first runs

    with pytest.raises(MemoryError, match="no room"):
        kernel.run(main)


def test_an_error_ends_the_run_before_later_callbacks_can_fail_too():
    """Once a task has failed, the callbacks still scheduled do not run: the run ends with the
    first error, as itself, not with a later one or an error of trio's."""
    kernel = Kernel()

    def explode():
        raise ZeroDivisionError("after the run failed")

    async def failing():
        await kernel.sleep(10)
        raise KeyError("first")

    async def main():
        kernel.spawn(failing)
        kernel.call_at(20, explode)
        await kernel.sleep(100)

    with pytest.raises(KeyError, match="first"):
        kernel.run(main)



_ENDLESS_CALLBACKS = """
import sys
from oisa.sim import Kernel

kernel = Kernel()

def tick():
    kernel.call_later(1, tick)  # events for ever, and never a task to wake

async def main():
    kernel.call_later(1, tick)
    await kernel.sleep(10**30)

print("running", flush=True)
try:
    kernel.run(main)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_an_interrupt_ends_a_run_that_only_runs_callbacks():
    """Trio defers Ctrl-C while the clock runs callbacks; the clock must hand control back to
    trio often enough that the interrupt arrives, even when no task is ever woken."""
    process = subprocess.Popen([sys.executable, "-c", _ENDLESS_CALLBACKS], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "running\n"
        time.sleep(0.5)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=10)
    finally:
        process.kill()
        process.communicate()
    assert status == 130
    assert time.monotonic() - interrupted < 1.0
