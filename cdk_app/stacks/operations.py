"""OperationsStack: one CloudWatch dashboard and the alarms on-call acts on (to an ops topic).

Thresholds come from the stage config (``alarms``). docs/runbook.md says what to do per alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsii
from aws_cdk import Annotations, CfnOutput, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app import refs
from rotorwatch.contract.reasons import Reason
from rotorwatch.deployment import resources
from rotorwatch.deployment.stage import StageConfig

FIVE_MIN = Duration.minutes(5)
#: The IoT rule action types the telemetry rules' action metrics carry (dimension ActionType):
#: Failure is the Kinesis action's, ErrorActionFailure the S3 error action's. IoT publishes both
#: with RuleName AND ActionType (cdk_app.metric_dimensions); an alarm on RuleName alone watches
#: a metric that never gets a data point.
KINESIS_ACTION_TYPE = "Kinesis"
S3_ACTION_TYPE = "S3"
#: Client errors (4xx) per 5 minutes on a public HTTP API that mean someone is guessing links
#: or a burst is being throttled (429), not a technician mistyping: one answer is two requests,
#: a refused old link one 403, and the stage admits 5 requests/s (1 500 per period).
HTTP_API_CLIENT_ERRORS: int = 100
#: Said at synth time when a stage would deploy alarms nobody receives.
NO_OPS_RECIPIENTS = (
    "stage {stage} has no ops_emails: CloudWatch alarms will notify nobody (subscribe later "
    "with `aws sns subscribe --topic-arn <OpsTopicArn> --protocol email ...`)"
)


#: Ends of a Glue job run that need someone ("Glue Job State Change" detail.state; the others
#: are SUCCEEDED and the running states).
GLUE_RUN_FAILED_STATES: tuple[str, ...] = ("FAILED", "TIMEOUT", "STOPPED", "ERROR")


@dataclass(frozen=True)
class Monitored:
    """What the operations stack watches (created by the other stacks)."""

    streams: dict[str, kinesis.IStream]
    functions: dict[str, lambda_.IFunction]
    #: Scheduled functions (no stream): watched for errors only.
    scheduled: dict[str, lambda_.IFunction]
    deliveries: dict[str, firehose.IDeliveryStream]
    #: Every telemetry topic rule's name by contract (IngestionStack.rule_names): each gets
    #: the same alarms, so a rule added there is watched without being listed here.
    telemetry_rules: dict[int, str]
    alerts_topic: sns.ITopic
    failed_batches: sqs.IQueue
    endpoint_name: str | None
    #: Functions invoked per request (an HTTP API's): watched for errors and throttles (no
    #: stream, so no iterator age).
    request_functions: dict[str, lambda_.IFunction] = field(default_factory=dict)
    #: Public HTTP APIs: 5xx (a request our side failed) and 4xx (guessing or throttling).
    http_apis: dict[str, apigw.IHttpApi] = field(default_factory=dict)
    #: The scheduled Glue jobs by name (machine health, raw sampling): a run that fails, times
    #: out or is stopped is told to the ops topic (CloudWatch has no metric for it).
    glue_jobs: tuple[str, ...] = ()


def _camel(name: str) -> str:
    """snake_case -> CamelCase: an alarm's construct id (and its runbook heading)."""
    return "".join(p.capitalize() for p in name.split("_"))


def custom_metric(name: str, **dimensions: str) -> cw.Metric:
    # Powertools EMF metrics carry the dimension service=<POWERTOOLS_SERVICE_NAME>, plus any a
    # single_metric added (e.g. reason=...).
    return cw.Metric(
        namespace=resources.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": resources.POWERTOOLS_SERVICE, **dimensions},
        statistic="Sum",
        period=FIVE_MIN,
    )


def device_mismatch_metric() -> cw.Metric:
    """Records whose payload named another device than the topic that carried them."""
    return custom_metric(
        resources.QUARANTINED_BY_REASON_METRIC,
        **{resources.QUARANTINE_REASON_DIMENSION: Reason.DEVICE_MISMATCH.value},
    )


def sms_spend_metric() -> cw.Metric:
    # Account-wide, no dimensions; SNS updates it a few times an hour, so an hour's maximum.
    return cw.Metric(
        namespace="AWS/SNS",
        metric_name="SMSMonthToDateSpentUSD",
        statistic="Maximum",
        period=Duration.hours(1),
    )


def iot_metric(name: str, rule: str, action_type: str | None = None) -> cw.Metric:
    dims = {"RuleName": rule}
    if action_type:
        dims["ActionType"] = action_type
    return cw.Metric(
        namespace="AWS/IoT", metric_name=name, dimensions_map=dims, statistic="Sum", period=FIVE_MIN
    )


def sagemaker_metric(name: str, endpoint: str, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(
        namespace="AWS/SageMaker",
        metric_name=name,
        dimensions_map={"EndpointName": endpoint, "VariantName": "AllTraffic"},
        statistic=statistic,
        period=FIVE_MIN,
    )


class OperationsStack(Stack):
    def __init__(
        self, scope: Construct, cid: str, *, config: StageConfig, watch: Monitored, **kwargs: Any
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        key = refs.data_key(self, config)
        self.ops_topic = sns.Topic(
            self, "Ops", display_name="rotorwatch ops", master_key=key, enforce_ssl=True
        )
        # enforce_ssl gives the topic a resource policy, which replaces SNS's default one: without
        # an explicit allow, CloudWatch (a service principal, not an IAM role of ours) is refused
        # with "no resource-based policy allows the SNS:Publish action" and no alarm reaches anyone.
        self.ops_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[self.ops_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:cloudwatch:{self.region}:"
                        f"{self.account}:alarm:*"
                    },
                },
            )
        )
        for email in config.ops_emails:
            self.ops_topic.add_subscription(subs.EmailSubscription(email))
        if not config.ops_emails:
            Annotations.of(self).add_warning_v2(
                "rotorwatch:no-ops-recipients", NO_OPS_RECIPIENTS.format(stage=config.stage)
            )
        action = cw_actions.SnsAction(self.ops_topic)
        th = config.alarms
        self.alarms: list[cw.Alarm] = []

        def alarm(cid: str, metric: cw.IMetric, threshold: float, description: str) -> cw.Alarm:
            a = cw.Alarm(
                self,
                cid,
                metric=metric,
                threshold=threshold,
                evaluation_periods=3 if "IteratorAge" in cid or "Freshness" in cid else 1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{description} (runbook: docs/runbook.md#{cid.lower()})",
            )
            a.add_alarm_action(action)
            a.add_ok_action(action)
            self.alarms.append(a)
            return a

        dash = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))

        # Messages in: rule matches and stream records.
        rules = sorted(watch.telemetry_rules.items())
        dash.add_widgets(
            cw.TextWidget(markdown=f"# rotorwatch {config.stage}", width=24, height=1),
            cw.GraphWidget(
                title="Messages in",
                left=[
                    iot_metric("TopicMatch", rule).with_(label=f"IoT rule v{c} matches")
                    for c, rule in rules
                ]
                + [
                    s.metric_incoming_records(
                        period=FIVE_MIN, statistic="Sum", label=f"{n} records"
                    )
                    for n, s in watch.streams.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="IoT rule errors",
                left=[
                    m
                    for c, rule in rules
                    for m in (
                        iot_metric("Failure", rule, KINESIS_ACTION_TYPE).with_(
                            label=f"v{c} Kinesis action failures (kept in errors/iot-rule/)"
                        ),
                        iot_metric("ErrorActionFailure", rule, S3_ACTION_TYPE).with_(
                            label=f"v{c} error action failures (messages lost)"
                        ),
                    )
                ],
                width=12,
            ),
        )
        for contract, rule in rules:
            # v1's alarms keep the ids they were deployed with; a later contract's get a suffix.
            suffix = "" if contract == 1 else f"V{contract}"
            alarm(
                f"IotRuleErrors{suffix}",
                iot_metric("Failure", rule, KINESIS_ACTION_TYPE),
                th.iot_rule_errors,
                f"Telemetry v{contract} the IoT rule could not put into Kinesis (kept under "
                "errors/iot-rule/)",
            )
            alarm(
                f"IotRuleErrorActionFailures{suffix}",
                iot_metric("ErrorActionFailure", rule, S3_ACTION_TYPE),
                1,
                f"The telemetry v{contract} IoT rule's error action could not store failed "
                "telemetry in S3: it is lost",
            )

        # Stream consumers: iterator age = how far behind each function reads.
        dash.add_widgets(
            cw.GraphWidget(
                title="Iterator age per stream consumer (ms)",
                left=[
                    fn.metric("IteratorAge", statistic="Maximum", period=FIVE_MIN, label=n)
                    for n, fn in watch.functions.items()
                ]
                + [
                    s.metric_get_records_iterator_age_milliseconds(
                        statistic="Maximum", period=FIVE_MIN, label=f"{n} stream (all consumers)"
                    )
                    for n, s in watch.streams.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Lambda errors and throttles",
                left=[
                    fn.metric_errors(period=FIVE_MIN, label=f"{n} errors")
                    for n, fn in watch.functions.items()
                ]
                + [
                    fn.metric_throttles(period=FIVE_MIN, label=f"{n} throttles")
                    for n, fn in watch.functions.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Lambda duration p95 (ms)",
                left=[
                    fn.metric_duration(period=FIVE_MIN, statistic="p95", label=n)
                    for n, fn in watch.functions.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Quarantined records and failed batches",
                left=[
                    custom_metric(resources.QUARANTINED_RECORDS_METRIC).with_(
                        label="quarantined records"
                    )
                ],
                right=[
                    watch.failed_batches.metric_approximate_number_of_messages_visible(
                        period=FIVE_MIN, label="failed batches waiting"
                    )
                ],
                width=12,
            ),
        )
        for name, fn in watch.functions.items():
            camel = _camel(name)
            alarm(
                f"{camel}IteratorAge",
                fn.metric("IteratorAge", statistic="Maximum", period=FIVE_MIN),
                th.iterator_age_ms,
                f"{name} is falling behind its stream",
            )
            alarm(
                f"{camel}Errors",
                fn.metric_errors(period=FIVE_MIN),
                th.lambda_errors,
                f"{name} invocations failed (batches are retried, then sent to the queue)",
            )
            alarm(
                f"{camel}Throttles",
                fn.metric_throttles(period=FIVE_MIN),
                1,
                f"{name} was throttled (account concurrency)",
            )
        for name, fn in watch.scheduled.items():
            camel = _camel(name)
            alarm(
                f"{camel}Errors",
                fn.metric_errors(period=FIVE_MIN),
                1,
                f"{name} failed: its checks stop until it succeeds again",
            )
        self._request_alarms(alarm, dash, watch)
        alarm(
            "QuarantinedRecords",
            custom_metric(resources.QUARANTINED_RECORDS_METRIC),
            th.quarantined_records,
            "Many telemetry records broke the contract (see quarantine/)",
        )
        alarm(
            "DeviceMismatch",
            device_mismatch_metric(),
            1,
            "A device published windows naming another device (quarantined as device_mismatch)",
        )
        alarm(
            "FailedBatches",
            watch.failed_batches.metric_approximate_number_of_messages_visible(period=FIVE_MIN),
            1,
            "Stream batches exhausted their retries: replay them from the stream or raw lake",
        )

        # Scoring and alerts.
        alert_widgets: list[cw.IWidget] = [
            cw.GraphWidget(
                title="Alerts sent by severity",
                left=[
                    cw.MathExpression(
                        expression=(
                            f"SEARCH('{{{resources.METRICS_NAMESPACE},service,"
                            f'{resources.SEVERITY_ATTRIBUTE}}} MetricName="'
                            f"{resources.ALERTS_SENT_METRIC}\"', 'Sum', 300)"
                        ),
                        label="",
                        period=FIVE_MIN,
                    )
                ],
                right=[
                    watch.alerts_topic.metric_number_of_notifications_failed(
                        period=FIVE_MIN, label="SNS deliveries failed"
                    )
                ],
                width=12,
            )
        ]
        alarm(
            "AlertDeliveriesFailed",
            watch.alerts_topic.metric_number_of_notifications_failed(period=FIVE_MIN),
            1,
            "SNS could not deliver machine alerts (SMS: sandbox, unverified number, opt-out or "
            "spend limit; e-mail: bounced)",
        )
        if config.alert_phone_numbers:
            alert_widgets.append(
                cw.GraphWidget(
                    title="SMS spend this month (USD)",
                    left=[sms_spend_metric()],
                    left_annotations=[
                        cw.HorizontalAnnotation(value=th.sms_spend_usd, label="alarm")
                    ],
                    width=12,
                )
            )
            alarm(
                "SmsMonthToDateSpend",
                sms_spend_metric(),
                th.sms_spend_usd,
                "Month-to-date SMS spend is near the account's SNS spend limit: beyond it no "
                "text is sent",
            )
        if watch.endpoint_name:
            ep = watch.endpoint_name
            alert_widgets.append(
                cw.GraphWidget(
                    title="SageMaker endpoint",
                    left=[
                        sagemaker_metric("Invocations", ep),
                        sagemaker_metric("Invocation4XXErrors", ep),
                        sagemaker_metric("Invocation5XXErrors", ep),
                    ],
                    right=[
                        sagemaker_metric("ModelLatency", ep, "p95").with_(label="latency p95 (us)")
                    ],
                    width=12,
                )
            )
            alarm(
                "EndpointErrors",
                sagemaker_metric("Invocation5XXErrors", ep),
                th.endpoint_errors,
                "The scoring endpoint fails: alerts are running on the rules fallback (degraded)",
            )
        dash.add_widgets(*alert_widgets)

        # Firehose: freshness (age of the oldest undelivered record) and failures.
        dash.add_widgets(
            cw.GraphWidget(
                title="Firehose data freshness (s)",
                left=[
                    d.metric(
                        "DeliveryToS3.DataFreshness", statistic="Maximum", period=FIVE_MIN, label=n
                    )
                    for n, d in watch.deliveries.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Firehose failures",
                left=[
                    d.metric(
                        "FailedConversion.Records",
                        statistic="Sum",
                        period=FIVE_MIN,
                        label=f"{n} conversion failures",
                    )
                    for n, d in watch.deliveries.items()
                ]
                + [
                    d.metric(
                        "DeliveryToS3.Success",
                        statistic="Minimum",
                        period=FIVE_MIN,
                        label=f"{n} S3 success (1 = ok)",
                    )
                    for n, d in watch.deliveries.items()
                ],
                width=12,
            ),
        )
        for name, d in watch.deliveries.items():
            camel = _camel(name)
            alarm(
                f"{camel}Freshness",
                d.metric("DeliveryToS3.DataFreshness", statistic="Maximum", period=FIVE_MIN),
                th.firehose_freshness_s,
                f"Firehose {name} is not delivering to the lake",
            )
            if name == "raw":  # no format conversion on the raw stream
                continue
            alarm(
                f"{camel}ConversionFailures",
                d.metric("FailedConversion.Records", statistic="Sum", period=FIVE_MIN),
                1,
                f"Firehose {name} records failed Parquet conversion (see errors/firehose/)",
            )

        if watch.glue_jobs:
            self._glue_job_failures(config, watch.glue_jobs)

        self.dashboard = dash
        CfnOutput(self, "DashboardName", value=dash.dashboard_name)
        CfnOutput(
            self,
            "OpsTopicArn",
            value=self.ops_topic.topic_arn,
            description="Alarms go here: aws sns subscribe --protocol email ...",
        )

    def _request_alarms(
        self,
        alarm: Callable[[str, cw.IMetric, float, str], cw.Alarm],
        dash: cw.Dashboard,
        watch: Monitored,
    ) -> None:
        """The request path (the technicians' answer endpoint): an answer that fails is a
        technician who tapped a link and saw an error page, so one is worth a look."""
        if not (watch.request_functions or watch.http_apis):
            return
        for name, fn in watch.request_functions.items():
            camel = _camel(name)
            alarm(
                f"{camel}Errors",
                fn.metric_errors(period=FIVE_MIN),
                1,
                f"{name} failed a request: the caller saw an error page (an answer may be "
                "recorded without its effect)",
            )
            alarm(
                f"{camel}Throttles",
                fn.metric_throttles(period=FIVE_MIN),
                1,
                f"{name} was throttled (its reserved concurrency): callers saw errors",
            )
        for name, api in watch.http_apis.items():
            camel = _camel(name)
            alarm(
                f"{camel}ServerErrors",
                api.metric_server_error(period=FIVE_MIN, statistic="Sum"),
                1,
                f"The {name} HTTP API answered 5xx: the function failed or timed out",
            )
            alarm(
                f"{camel}ClientErrors",
                api.metric_client_error(period=FIVE_MIN, statistic="Sum"),
                HTTP_API_CLIENT_ERRORS,
                f"The {name} HTTP API refused many requests (403 bad or expired links, 429 "
                "throttled): someone is guessing links or flooding it",
            )
        dash.add_widgets(
            cw.GraphWidget(
                title="Answer endpoint (technicians' feedback)",
                left=[
                    m
                    for name, api in watch.http_apis.items()
                    for m in (
                        api.metric_count(
                            period=FIVE_MIN, statistic="Sum", label=f"{name} requests"
                        ),
                        api.metric_client_error(
                            period=FIVE_MIN, statistic="Sum", label=f"{name} 4xx"
                        ),
                        api.metric_server_error(
                            period=FIVE_MIN, statistic="Sum", label=f"{name} 5xx"
                        ),
                    )
                ],
                right=[
                    m
                    for name, fn in watch.request_functions.items()
                    for m in (
                        fn.metric_errors(period=FIVE_MIN, label=f"{name} errors"),
                        fn.metric_throttles(period=FIVE_MIN, label=f"{name} throttles"),
                    )
                ],
                width=12,
            )
        )

    def _glue_job_failures(self, config: StageConfig, job_names: tuple[str, ...]) -> None:
        """Glue reports a job run's end only as an EventBridge event ("Glue Job State Change"),
        not as a CloudWatch metric, so a rule forwards the runs that did not succeed to the ops
        topic, one line each. Without it a failed run is silent: the curated tables or the
        day's kept raw windows are simply missing."""
        self.glue_job_failures = events.Rule(
            self,
            "GlueJobFailures",
            description=f"rotorwatch {config.stage}: a Glue job run failed, timed out or stopped",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": list(job_names), "state": list(GLUE_RUN_FAILED_STATES)},
            ),
        )
        self.glue_job_failures.add_target(
            _OwnRuleTopicTarget(
                self.ops_topic,
                events.RuleTargetInput.from_text(
                    f"rotorwatch {config.stage}: Glue job "
                    f"{events.EventField.from_path('$.detail.jobName')} run "
                    f"{events.EventField.from_path('$.detail.jobRunId')} ended "
                    f"{events.EventField.from_path('$.detail.state')}: "
                    f"{events.EventField.from_path('$.detail.message')} (docs/runbook.md, "
                    "Glue job run failed)"
                ),
            )
        )


@jsii.implements(events.IRuleTarget)
class _OwnRuleTopicTarget:
    """An SNS topic as an EventBridge rule's target, which only that rule may publish to.

    CDK's ``targets.SnsTopic`` grants ``events.amazonaws.com`` publishing with no condition, that
    is to any rule of any account that knows the topic's ARN; this grant names the rule.
    """

    def __init__(self, topic: sns.Topic, message: events.RuleTargetInput) -> None:
        self.topic = topic
        self.message = message

    def bind(self, rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowGlueJobFailureRule",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        return events.RuleTargetConfig(arn=self.topic.topic_arn, input=self.message)
