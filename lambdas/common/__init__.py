"""Adapter helpers shared by the Lambda handlers: settings, AWS clients, Kinesis batches."""
