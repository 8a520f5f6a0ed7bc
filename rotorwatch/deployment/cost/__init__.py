"""Monthly AWS cost and capacity of a rotorwatch deployment for a given fleet (pure arithmetic).

The model follows one telemetry window through the deployed pipeline (docs/cost.md draws it):
device ▶ IoT Core (broker messaging or Basic Ingest) ▶ rule ▶ Kinesis ``telemetry`` ▶ Lambda
extract_features ▶ Kinesis ``features`` ▶ Lambda score_and_alert (SageMaker serverless, DynamoDB
state, SNS) ▶ Firehose ×3 ▶ S3 lake ▶ Glue job, Athena queries.

Prices come from a JSON price table (``rotorwatch/deployment/cost/pricing/<region>.json``) that records its
sources and the date it was read; everything the model cannot know (how long a Lambda takes per
record, how many queries analysts run) is an explicit field of :class:`Assumptions`. A month is
730 hours, as on the AWS pricing pages. Free tiers are ignored. Sizes metered "per KB/GB" use
binary units (1 KB = 1024 bytes), the convention AWS bills with.

Modules: :mod:`~rotorwatch.deployment.cost.prices` (the price table), :mod:`~rotorwatch.deployment.cost.fleet` (what
the fleet sends, the assumptions, and the capacity arithmetic: message sizes, shards, batches),
:mod:`~rotorwatch.deployment.cost.report` (cost lines, capacity, the report), :mod:`~rotorwatch.deployment.cost.estimate`
(the bill, line by line), :mod:`~rotorwatch.deployment.cost.levers` (each lever priced against its
baseline), :mod:`~rotorwatch.deployment.cost.quotas` (the documented quotas the fleet is checked against)
and :mod:`~rotorwatch.deployment.cost.deployed` (what a stage of :mod:`rotorwatch.deployment.stage` deploys, as fleet
and assumption fields).
"""
