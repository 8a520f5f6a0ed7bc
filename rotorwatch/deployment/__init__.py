"""Deployment: what one stage of rotorwatch is configured to do, and what it costs.

Holds the stage settings (:mod:`.stage`), the names shared by the CDK app, the handlers and the
local cloud (:mod:`.resources`) and the cost and capacity model with its quotas (:mod:`.cost`).

The top of the core: it may import every other part, and no other part imports it.
"""
