"""The two IaC scanners' findings: cdk-nag 3 on every synth, checkov on the prod templates.

cdk-nag: the AwsSolutions pack runs as a validation plugin on every synth; a finding that is not
acknowledged fails the synth. Acknowledge one finding at a time (cdk-nag 3 has no prefix
matching) and always say why the finding is acceptable.

checkov (Bridgecrew's scanner, ``make check-deploy``) reads the synthesized templates; a check
is skipped for one resource by its ``Metadata.checkov.skip`` entry, which carries the reason
(:func:`skip_checkov`). Both refuse a reason shorter than four words.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

#: The template Metadata key checkov reads its per-resource skips from.
CHECKOV_METADATA: str = "checkov"


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def _check_reason(rule_id: str, reason: str) -> None:
    if len(reason.split()) < 4:
        raise ValueError(f"acknowledgement of {rule_id} needs a real reason, got {reason!r}")


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope``."""
    _check_reason(rule_id, reason)
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def skip_checkov(scope: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check (e.g. ``CKV_AWS_117``) for ``scope``'s CloudFormation resource."""
    _check_reason(check_id, reason)
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to skip {check_id} on")
    current = resource.get_metadata(CHECKOV_METADATA) or {}
    skips = [s for s in current.get("skip", []) if s["id"] != check_id]
    skips.append({"id": check_id, "comment": reason})
    resource.add_metadata(CHECKOV_METADATA, {"skip": skips})
