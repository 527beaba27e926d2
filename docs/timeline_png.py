"""Draw docs/timeline.png: the tracks of a timeline, read back from the trace file, with matplotlib.

This is a rendering of what the ``.perfetto`` file holds (the same tracks, slices, counters and
flows the Perfetto UI shows), drawn here because the UI at ui.perfetto.dev cannot be reached
from the machine that made it. Rows: each device (bold), then the link directions it sends on,
leaving out those that did nothing but their start-up handshake; the last rows are two counters
of the busiest link. Needs matplotlib, which oisa itself does not (``pip install matplotlib``).

    python docs/timeline_png.py [--fabric supernode-64] [--size 8KiB] [--out docs/timeline.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.artist import Artist

from oisa.fabric import load_fabric
from oisa.observe import Slice, Timeline, TimelineTables, read_timeline
from oisa.units import parse_size
from oisa.workload import Run, run_p2p

START_UP = {"INIT_FC1", "INIT_FC2"}
COLOURS = {"DMA write": "tab:orange", "DMA read": "tab:green", "data": "tab:blue", "replay": "tab:red",
           "corrupt": "black", "duplicate": "tab:purple"}


def rows(tables: TimelineTables) -> tuple[list[int], set[int]]:
    """Track uuids to draw, in the trace's tree order (device, then the links it sends on), and
    which of them are devices."""
    busy = {s.track for s in tables.slices if s.name not in START_UP}
    root = next(t for t in tables.tracks.values() if t.parent is None)
    order: list[int] = []
    devices: set[int] = set()
    for device in tables.children(root.uuid):
        links = [t.uuid for t in tables.children(device.uuid) if t.uuid in busy]
        if device.uuid in busy or links:
            order += [device.uuid, *links]
            devices.add(device.uuid)
    return order, devices


def draw(tables: TimelineTables, title: str, out: Path) -> None:
    order, devices = rows(tables)
    by_track: dict[int, list[Slice]] = {uuid: [] for uuid in order}
    for s in tables.slices:
        if s.track in by_track:
            by_track[s.track].append(s)
    busiest = max((t for t in order if t not in devices), key=lambda t: len(by_track[t]))
    counters = [c for c in tables.children(busiest)
                if c.name.endswith(("replay buffer", "credits vc0.posted.data")) and c.uuid in tables.counters]
    height = len(order) + 2 * len(counters)
    figure, axes = plt.subplots(figsize=(11, 0.3 * height + 1.8), dpi=100)
    y_of = {uuid: height - index for index, uuid in enumerate(order)}
    for uuid, y in y_of.items():
        for s in by_track[uuid]:
            if s.dur:
                axes.broken_barh([(s.ts, s.dur)], (y - 0.4, 0.8), facecolors=COLOURS.get(s.name, "0.6"),
                                 edgecolors="white", linewidth=0.2)
            else:
                axes.plot([s.ts, s.ts], [y - 0.4, y + 0.4], color="tab:brown", linewidth=0.8)
    by_id = {s.id: s for s in tables.slices}
    for a, b in tables.flows:
        first, second = by_id[a], by_id[b]
        if first.track in y_of and second.track in y_of:
            axes.annotate("", xy=(second.ts, y_of[second.track]), xytext=(first.ts + first.dur, y_of[first.track]),
                          arrowprops=dict(arrowstyle="->", color="tab:gray", alpha=0.35, linewidth=0.6))
    labels: dict[float, str] = {y: tables.tracks[uuid].name for uuid, y in y_of.items()}
    end = max(s.ts + s.dur for s in tables.slices)
    for index, counter in enumerate(counters):
        base = 2 * (len(counters) - index) - 1.6
        points = tables.counters[counter.uuid] + [(end, tables.counters[counter.uuid][-1][1])]
        values = [v for _, v in points]
        scale = 1.5 / (max(values) or 1)
        axes.step([t for t, _ in points], [base + v * scale for v in values], where="post", color="tab:olive")
        labels[base + 0.75] = f"{counter.name} (0 to {max(values):.0f})"
    axes.set_yticks(list(labels), list(labels.values()), fontsize=7)
    bold = {tables.tracks[uuid].name for uuid in devices}
    for label in axes.get_yticklabels():
        label.set_fontweight("bold" if label.get_text() in bold else "normal")
    axes.set_xlabel("virtual time (ns)", fontsize=8)
    axes.set_ylim(0, height + 1)
    axes.set_title(title, fontsize=9)
    kinds = Counter(s.name for s in tables.slices)
    names = [name for name in COLOURS if kinds[name]]
    handles: list[Artist] = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[name]) for name in names]
    handles += [plt.Rectangle((0, 0), 1, 1, color="0.6"), plt.Line2D([], [], color="tab:brown"),
                plt.Line2D([], [], color="tab:gray"), plt.Line2D([], [], color="tab:olive")]
    names += ["control flit (INIT_FC, ACK, CREDIT)", "message forwarded by a switch", "flow: one message, hop to hop",
              "counter"]
    axes.legend(handles, names, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=4, frameon=False)
    axes.grid(axis="x", linewidth=0.3)
    figure.tight_layout()
    figure.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="supernode-64")
    parser.add_argument("--size", default="8KiB")
    parser.add_argument("--out", default=str(Path(__file__).with_name("timeline.png")))
    args = parser.parse_args(argv)
    spec = load_fabric(args.fabric)
    with tempfile.TemporaryDirectory() as scratch:
        trace = Path(scratch, "run.perfetto")
        result = run_p2p(spec, Run(observer=Timeline(trace, spec)), size=parse_size(args.size))
        tables = read_timeline(trace)
    title = (f"oisa run {args.fabric} --size {args.size} --trace run.perfetto: card {result.src} writes to card "
             f"{result.dst} and reads back\nmatplotlib rendering of the trace file's tracks, slices, flows and "
             f"counters (not the Perfetto UI)")
    draw(tables, title, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
