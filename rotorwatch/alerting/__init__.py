"""Alerting: a device's state over time and what technicians receive and answer.

Holds the alert state machine (:mod:`.alerts`) and its messages (:mod:`.alert_messages`), the
device-silent notice (:mod:`.silence`), one window folded into a device's state (:mod:`.fold`), the
stored state item (:mod:`.state_item`), the deployed path replayed (:mod:`.replay`) and the
technicians' answers (:mod:`.feedback`), their signed links (:mod:`.feedback_links`), the links
and pages they see (:mod:`.feedback_pages`) and their rows and labels in the lake
(:mod:`.feedback_lake`).

May import the diagnosis, the contract and the lake's names (where an answer lands, the query an
alert points to); never a deployment's settings.
"""
