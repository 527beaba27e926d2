"""Results for people (text tables, plots) and for programs (JSON with documented keys, CSV).

What a run writes while it runs (pcapng captures, timelines) is :mod:`oisa.observe`'s, not this
package's: reports are made from results, after the run.

What it must not know: ``cli``, ``study`` and ``testing``. Reports are made for any caller; the
command line decides which one to print.
"""

from oisa.report.collectives import collective_json, collective_text, sweep_csv, sweep_json, sweep_text
from oisa.report.compare import Headline, comparison_json, comparison_text, headlines, result_json, result_text
from oisa.report.devices import device_listing, devices_text
from oisa.report.p2p import p2p_json, p2p_text

__all__ = ["Headline", "collective_json", "collective_text", "comparison_json", "comparison_text", "device_listing",
           "devices_text", "headlines", "p2p_json", "p2p_text", "result_json", "result_text",
           "sweep_csv", "sweep_json", "sweep_text"]
