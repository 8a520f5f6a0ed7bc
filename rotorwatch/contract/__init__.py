"""The device contract: what a device sends, how it reaches the stream, and what it may publish.

Holds the two telemetry formats and their decoders (:mod:`.telemetry` v1 JSON, :mod:`.telemetry_v2`
int16 binary), what both refuse and why (:mod:`.reasons` the reason codes, :mod:`.plausible` the
physical bounds of a reading), the IoT rules that put a message on the stream (:mod:`.iot_rule`), the record as a
rule left it there (:mod:`.published`) and the device's IoT policy (:mod:`.iot_policy`).

Imports nothing else of rotorwatch (contract "core-inside" in pyproject.toml): a firmware
engineer reads the contract without the diagnosis, and a change of diagnosis cannot change it.
"""
