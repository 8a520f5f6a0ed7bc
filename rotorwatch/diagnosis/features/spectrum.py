"""The Hann window every spectrum of the features is taken with, and its main lobe's width in
bins (shared by the fused pass, the velocity integration and the envelope).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Half-width in bins of the Hann main lobe summed for a tone's amplitude.
ORDER_HALF_WIDTH_BINS: Final = 2


def _hann(n: int) -> F64:
    # Periodic Hann (the DFT-even form used for spectral analysis).
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


_WINDOWS: dict[int, tuple[F64, float]] = {}


def _window(n: int) -> tuple[F64, float]:
    cached = _WINDOWS.get(n)
    if cached is None:
        w = _hann(n)
        cached = (w, float(np.sum(w**2)))
        _WINDOWS[n] = cached
    return cached
