"""Settings for every test layer."""

from hypothesis import settings

# Hypothesis's default deadline (200 ms per example) times the machine, not the code: on a
# shared 2-core CI runner under load an example of the IoT policy tests took longer and failed.
# Speed belongs in benchmarks/, so no property test has a deadline.
settings.register_profile("rotorwatch", deadline=None)
settings.load_profile("rotorwatch")
