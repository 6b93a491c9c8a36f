"""Unit-test settings: the Hypothesis profile of `make mutate`."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

# `make mutate` runs tests/unit with --hypothesis-profile=mutmut: the same examples on every run
# (derandomized, no example database), so two runs report the same survivors; no shrinking (a kill
# needs one failing example, not the smallest); no deadline or health check (mutmut's trampolines
# slow every call, and a missed deadline would count as a kill).
settings.register_profile(
    "mutmut",
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
