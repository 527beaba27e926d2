"""oisa: an OISA-like heterogeneous GPU interconnect, emulated byte for byte in virtual time.

Layers, bottom up: ``wire`` (byte layouts), ``link`` and ``transaction`` (sans-IO protocol
state machines), ``sim`` (the virtual-time kernel), ``device`` (emulated GPUs), ``fabric``
(cards and links from TOML), ``workload``, ``observe`` (captures and timelines, beside the
layers from ``sim`` up: it knows only ``sim`` and below), ``report``, ``testing`` and ``cli``. A
layer imports only those below it; ``tests/test_layers.py`` checks that on the source.
"""
