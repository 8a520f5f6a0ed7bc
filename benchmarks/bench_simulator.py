"""How fast the simulator makes a fleet-day (prints figures; not a timed test).

PYTHONPATH=. python benchmarks/bench_simulator.py
"""

from __future__ import annotations

import time

from simulator.fleet import generate, load_scenario


def main() -> None:
    sc = load_scenario("fleet-24")
    for interval_s in (600, 60):
        t0 = time.perf_counter()
        n = size = 0
        for _topic, payload in generate(
            sc, start_ms=1_767_225_600_000, duration_s=86400, interval_s=interval_s, seed=1
        ):
            n += 1
            size += len(payload)
        dt = time.perf_counter() - t0
        print(
            f"fleet-24, 1 day, one window per {interval_s:>3} s: {n} messages in {dt:.2f} s "
            f"({n / dt:,.0f} msg/s, {size / n / 1024:.1f} KiB each)"
        )


if __name__ == "__main__":
    main()
