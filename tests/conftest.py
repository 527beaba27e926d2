"""Test-wide settings: Hypothesis profiles.

CI runs the bounded ``ci`` profile (the default). ``HYPOTHESIS_PROFILE=long`` runs many more
examples, for nightly runs; ``HYPOTHESIS_PROFILE=dev`` is quick for editing.
"""

import os

from hypothesis import HealthCheck, settings

# CI draws the same examples every run (derandomize): a red build means a change broke
# something, never that the dice found something new; the long profile explores.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
