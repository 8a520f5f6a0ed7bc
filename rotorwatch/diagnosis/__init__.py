"""Diagnosis: from a telemetry window to a verdict, against the machine's own history.

Holds the vibration feature engine (:mod:`.features`), the scoring model (:mod:`.model`), the
scoring contract and rules fallback (:mod:`.scoring`), the prediction record
(:mod:`.predictions`), the temperature and pressure rules (:mod:`.sensors`,
:mod:`.sensor_limits`), the per-device baseline (:mod:`.baseline`, :mod:`.running_stat`), the
asset registry (:mod:`.assets`) and remaining life (:mod:`.life`, :mod:`.end_of_life`).

May import the device contract only: it knows nothing of alerts, the lake or a deployment.
"""
