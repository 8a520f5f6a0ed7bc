"""The dimension sets each metric our alarms watch is published with, and where that is said.

CloudWatch treats every combination of dimensions as its own metric: an alarm that names fewer
(or other) dimensions than the service publishes watches a metric with no data points and can
never fire (IoT's ErrorActionFailure carries RuleName AND ActionType; an alarm on RuleName
alone stayed silent). Every alarm of the app must name exactly one of the sets listed here for
its metric (tests/infra/test_infra_operations.py); a new alarm needs its metric's row first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from rotorwatch.deployment import resources

_IOT = "https://docs.aws.amazon.com/iot/latest/developerguide/metrics_dimensions.html"
_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
_FIREHOSE = (
    "https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html"
)
_SNS = "https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html"
_SQS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
_SAGEMAKER = "https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html"
_HTTP_API = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html"
#: HTTP API metrics: per API, per API and stage, and (detailed metrics only) per route.
_HTTP_API_SETS = (
    frozenset({"ApiId"}),
    frozenset({"ApiId", "Stage"}),
    frozenset({"ApiId", "Method", "Resource", "Stage"}),
)
_OURS = "lambdas/extract_features/app.py (Powertools: the service dimension on every metric)"

#: (namespace, metric) -> (the dimension-name sets it is published with, source).
PUBLISHED: Final[Mapping[tuple[str, str], tuple[tuple[frozenset[str], ...], str]]] = {
    # IoT rule action metrics: "RuleName ... ActionType" (Rule action metrics; dimensions).
    ("AWS/IoT", "Failure"): ((frozenset({"RuleName", "ActionType"}),), _IOT),
    ("AWS/IoT", "Success"): ((frozenset({"RuleName", "ActionType"}),), _IOT),
    ("AWS/IoT", "ErrorActionFailure"): ((frozenset({"RuleName", "ActionType"}),), _IOT),
    ("AWS/IoT", "ErrorActionSuccess"): ((frozenset({"RuleName", "ActionType"}),), _IOT),
    # IoT rule metrics (not per action): RuleName only.
    ("AWS/IoT", "TopicMatch"): ((frozenset({"RuleName"}),), _IOT),
    ("AWS/IoT", "ParseError"): ((frozenset({"RuleName"}),), _IOT),
    ("AWS/Lambda", "Errors"): ((frozenset({"FunctionName"}), frozenset()), _LAMBDA),
    ("AWS/Lambda", "Throttles"): ((frozenset({"FunctionName"}), frozenset()), _LAMBDA),
    ("AWS/Lambda", "IteratorAge"): ((frozenset({"FunctionName"}), frozenset()), _LAMBDA),
    ("AWS/Firehose", "DeliveryToS3.DataFreshness"): (
        (frozenset({"DeliveryStreamName"}),),
        _FIREHOSE,
    ),
    ("AWS/Firehose", "FailedConversion.Records"): (
        (frozenset({"DeliveryStreamName"}),),
        _FIREHOSE,
    ),
    ("AWS/SNS", "NumberOfNotificationsFailed"): ((frozenset({"TopicName"}),), _SNS),
    # Account-wide SMS spend: published without dimensions.
    ("AWS/SNS", "SMSMonthToDateSpentUSD"): ((frozenset(),), _SNS),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): ((frozenset({"QueueName"}),), _SQS),
    ("AWS/SageMaker", "Invocation5XXErrors"): (
        (frozenset({"EndpointName", "VariantName"}),),
        _SAGEMAKER,
    ),
    ("AWS/SageMaker", "Invocation4XXErrors"): (
        (frozenset({"EndpointName", "VariantName"}),),
        _SAGEMAKER,
    ),
    # HTTP APIs (API Gateway v2): "4xx"/"5xx", not the REST APIs' 4XXError/5XXError.
    ("AWS/ApiGateway", "4xx"): (_HTTP_API_SETS, _HTTP_API),
    ("AWS/ApiGateway", "5xx"): (_HTTP_API_SETS, _HTTP_API),
    (resources.METRICS_NAMESPACE, resources.QUARANTINED_RECORDS_METRIC): (
        (frozenset({"service"}),),
        _OURS,
    ),
    (resources.METRICS_NAMESPACE, resources.QUARANTINED_BY_REASON_METRIC): (
        (frozenset({"service", resources.QUARANTINE_REASON_DIMENSION}),),
        _OURS,
    ),
}
