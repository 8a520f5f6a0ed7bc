"""`rotorwatch feedback`: answer an alert from a terminal (for people with AWS access).

The same answer the e-mail and SMS links give (rotorwatch.alerting.feedback), with the same rules (first
answer wins unless ``--correction``) and the same effects (``repaired`` restarts the device's
baseline and closes the alert; ``no_fault_found`` mutes that fault on that device), recorded
with channel ``cli``. The alert id is the last line of every alert e-mail.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli import app
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.alerting import feedback_pages as fb_pages
from rotorwatch.alerting.alert_messages import utc_text

VERDICT_HELP = "What you found: " + ", ".join(fb.VERDICTS) + " (repaired = repaired or replaced)."


@app.command("feedback")
def feedback_command(
    alert_id: Annotated[str, typer.Argument(help="The alert id (last line of the alert e-mail).")],
    verdict: Annotated[str, typer.Option("--verdict", help=VERDICT_HELP)],
    feedback_table: Annotated[
        str, typer.Option("--feedback-table", help="Stack output FeedbackTableName.")
    ],
    state_table: Annotated[str, typer.Option("--state-table", help="Stack output StateTableName.")],
    lake_bucket: Annotated[str, typer.Option("--lake-bucket", help="The lake bucket's name.")],
    action: Annotated[str | None, typer.Option(help="What was done.")] = None,
    fault_found: Annotated[
        str | None, typer.Option("--fault-found", help="With other_fault: what it was.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Anything else worth keeping.")] = None,
    correction: Annotated[
        bool, typer.Option("--correction", help="Replace an earlier answer (else the first wins).")
    ] = False,
    mute_days: Annotated[
        float,
        typer.Option("--mute-days", help="How long no_fault_found mutes that fault.", min=0.01),
    ] = fb.DEFAULT_MUTE_MS / 86_400_000,
    region: Annotated[
        str | None, typer.Option(help="AWS region (default: your AWS configuration's).")
    ] = None,
) -> None:
    """Answer an alert: what you found at the machine, and what you did."""
    try:
        answer = fb.Answer(
            verdict=verdict,
            channel="cli",
            answered_ms=int(time.time() * 1000),
            fault_found=fb.clean_text(fault_found),
            action=fb.clean_text(action),
            note=fb.clean_text(note),
            correction=correction,
        )
    except fb.AnswerError as exc:
        raise typer.BadParameter(str(exc)) from None

    from cli.aws import session as aws_session
    from lambdas.common.feedback import FeedbackStore, LakeWriter
    from lambdas.feedback.service import Recorder, UnknownAlertError, apply

    session = aws_session(region)  # one region resolution for every command (cli/aws.py)
    dynamodb = session.client("dynamodb")
    recorder = Recorder(
        store=FeedbackStore(dynamodb, feedback_table),
        lake=LakeWriter(session.client("s3"), lake_bucket),
        dynamodb=dynamodb,
        state_table=state_table,
        mute_ms=int(mute_days * 86_400_000),
    )
    try:
        result = apply(recorder, fb_links.alert_ref(alert_id), answer)
    except UnknownAlertError:
        raise typer.BadParameter(
            f"no alert {alert_id!r} in {feedback_table!r} (copy the id from the alert e-mail; "
            "alerts sent before feedback was deployed cannot be answered)"
        ) from None
    if result.decision == "correction_limit":
        # Nothing changed, and the user asked for a change: a failure for scripts too.
        typer.echo(f"error: {alert_id}: {fb_pages.DECISION_TEXT[result.decision]}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{alert_id}: {fb_pages.DECISION_TEXT[result.decision]}")
    e = result.effects
    if e.restart_baseline:
        typer.echo(f"{result.alert.device_id}: baseline restarted; alert closed")
    if e.mute is not None:
        typer.echo(
            f"{result.alert.device_id}: {e.mute.fault} muted up to {e.mute.max_severity} "
            f"until {utc_text(e.mute.until_ms)}"
        )
    if e.lift_mute:
        typer.echo(f"{result.alert.device_id}: the mute this alert set is lifted")
