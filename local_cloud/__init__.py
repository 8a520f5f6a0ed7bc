"""The local cloud: the deployed handlers on one machine, with stand-ins only for what AWS runs
for us (IoT rule, Kinesis event source mappings, Firehose, SageMaker Runtime, Athena on
DuckDB), plus the demo and its report. An adapter over rotorwatch (docs/architecture.md)."""
