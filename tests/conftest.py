"""Shared test settings.

Hypothesis: no per-example deadline (the first call of a Numba kernel compiles it,
which takes seconds), and a modest example count so the whole suite stays within
CI's budget. Set HYPOTHESIS_PROFILE=thorough for a longer local run.
"""
import os

import matplotlib

matplotlib.use("Agg")  # tests never open windows

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
