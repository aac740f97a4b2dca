"""AWS's filter-policy rules in place of moto's, for the embedded backend.

moto 5.2.5 checks and applies SNS subscription filter policies with rules of its own
that differ from AWS's (shared FIELD-NOTES, "moto's SNS filter policies differ from
AWS's"): it refuses ``cidr`` and AWS's own nested ``$or`` example, accepts policies AWS
refuses (empty value arrays, two operators in one object, ...), fails Publish with
HTTP 500 on some ``MessageBody`` policies, and delivers differently for ``exists``,
``anything-but`` and String.Array attributes. Flowdash's evaluator
(``messaging.filter_policy``) follows AWS's documentation; these patches make the
embedded backend accept, refuse and deliver with it, so every client of the embedded
server (Flowdash, the AWS CLI, a student's script) sees what AWS would do. Applied
with the embedded server, only to the moto versions they were read against, and
reversible for tests.

1. Subscribe is atomic (``SNSResponse.subscribe``). moto creates the subscription
   first and sets its attributes after, so a policy it then refuses leaves an
   unfiltered subscription behind that receives everything, while the caller got
   ``InvalidParameter``. AWS checks the request first and creates nothing when it
   refuses it. Fix: the FilterPolicy is checked with Flowdash's rules (under the
   requested FilterPolicyScope, MessageAttributes by default) before moto creates
   anything, and a subscription this request created is unsubscribed again if setting
   any of its other attributes fails. The error is ``InvalidParameter`` with a message
   starting ``Invalid parameter: FilterPolicy:`` (``FilterPolicyScope:`` for a bad
   scope), as AWS names the attribute at fault.

2. SetSubscriptionAttributes (``SNSBackend.set_subscription_attributes``) for
   FilterPolicy and FilterPolicyScope checks the policy with Flowdash's rules first;
   moto's ``_validate_filter_policy`` becomes a no-op. A refused policy leaves the old
   one in place (moto answered invalid JSON with HTTP 500). Changing the scope checks
   the current policy again under the new scope, as AWS does (a nested policy cannot
   move to MessageAttributes scope; moto took any scope, even an unknown one). moto's
   own method then stores the policy (``attributes``, ``_filter_policy``), so any
   other wrapper of it still sees the change, but ``moto.sns.models.
   FilterPolicyMatcher`` builds nothing: ``_filter_policy_matcher`` stays None and
   moto's own matching never runs.

3. Delivery (``Subscription.publish``): ``delivery_decide`` evaluates the message with
   ``filter_policy_evaluate`` under the subscription's policy and scope; a message
   AWS would filter out is not delivered, and nothing in the evaluation can fail the
   publisher's request. The patched method returns the ``FilterResult`` (delivered or
   not, and why) so that a caller replacing ``Topic.publish`` can report each copy;
   moto's own ``Topic.publish`` ignores it.

Not changed: for ``MessageStructure=json`` the body a MessageBody policy sees is the
published message, as moto passes it (AWS does not document which text it filters).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from messaging.errors import InvalidInput
from messaging.filter_policy import (
    ATTRIBUTES,
    SCOPES,
    FilterResult,
    filter_policy_evaluate,
    filter_policy_validate,
)

from .version import moto_supported

logger = logging.getLogger(__name__)

_originals: dict[str, Any] = {}

DELIVERED = FilterResult(True, None)
_CACHE_ATTRIBUTE = "_flowdash_filter_policy"  # (policy text, scope, parsed policy)


def _refused(attribute: str, exc: InvalidInput) -> Exception:
    from moto.sns.exceptions import SNSInvalidParameter

    return SNSInvalidParameter(f"Invalid parameter: {attribute}: {exc.message}")


def _scope_checked(scope: Any) -> str:
    if scope not in SCOPES:
        from moto.sns.exceptions import SNSInvalidParameter

        raise SNSInvalidParameter(
            "Invalid parameter: FilterPolicyScope: scope must be MessageAttributes or "
            f"MessageBody, not {scope!r}"
        )
    return str(scope)


def _policy_checked(text: str, scope: str) -> dict[str, Any]:
    """The parsed policy if AWS would take it under ``scope``; SNSInvalidParameter if not."""
    try:
        return filter_policy_validate(text, scope=scope)
    except InvalidInput as exc:
        raise _refused("FilterPolicy", exc) from None


# --- 1. Subscribe -------------------------------------------------------------------------


def _subscribe(self: Any) -> Any:
    attributes = self._get_attributes() or {}
    scope = attributes.get("FilterPolicyScope")
    if scope is not None:
        scope = _scope_checked(scope)
    if attributes.get("FilterPolicy"):
        _policy_checked(attributes["FilterPolicy"], scope or ATTRIBUTES)
    key = (self._get_param("TopicArn"), self._get_param("Endpoint"), self._get_param("Protocol"))
    existed = self.backend._find_subscription(*key) is not None
    try:
        return _originals["subscribe"](self)
    except Exception:
        created = None if existed else self.backend._find_subscription(*key)
        if created is not None:  # remove what this request made: AWS creates nothing
            self.backend.unsubscribe(created.arn)
        raise


# --- 2. SetSubscriptionAttributes ---------------------------------------------------------


def _set_subscription_attributes(self: Any, arn: str, name: str, value: Any) -> None:
    subscription = self.subscriptions.get(arn)
    if subscription is not None and name == "FilterPolicyScope":
        scope = _scope_checked(value)
        if subscription.attributes.get("FilterPolicy"):  # AWS checks it again
            _policy_checked(subscription.attributes["FilterPolicy"], scope)
    elif subscription is not None and name == "FilterPolicy" and value:
        _policy_checked(value, subscription.attributes.get("FilterPolicyScope") or ATTRIBUTES)
    # Checked: moto stores it (its own check is off, its matcher is never built), and
    # whatever else wraps this method (``broker``) sees the change.
    _originals["set_subscription_attributes"](self, arn, name, value)
    if subscription is not None:
        subscription._filter_policy_matcher = None


def _validate_filter_policy(self: Any, value: Any, scope: str | None) -> None:
    """moto's own check, replaced: ``_set_subscription_attributes`` applied AWS's."""


class _NoMatcher:
    """Stands in for moto's ``FilterPolicyMatcher``: builds nothing, so moto never matches."""

    def __new__(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
        return None


# --- 3. Delivery --------------------------------------------------------------------------


def _parsed_policy(subscription: Any, text: str, scope: str) -> dict[str, Any]:
    cached: tuple[str, str, dict[str, Any]] | None = subscription.__dict__.get(_CACHE_ATTRIBUTE)
    if cached is not None and cached[0] == text and cached[1] == scope:
        return cached[2]
    parsed = filter_policy_validate(text, scope=scope)
    subscription.__dict__[_CACHE_ATTRIBUTE] = (text, scope, parsed)
    return parsed


def delivery_decide(
    subscription: Any, message: str, message_attributes: Mapping[str, Any] | None
) -> FilterResult:
    """Whether AWS would deliver this copy to ``subscription``, and if not, why.

    ``message_attributes`` as moto passes them to ``Subscription.publish``:
    ``{name: {"Type": ..., "Value": ...}}`` (the SNS envelope's shape).
    """
    text = subscription.attributes.get("FilterPolicy")
    if not text:
        return DELIVERED
    scope = subscription.attributes.get("FilterPolicyScope") or ATTRIBUTES
    try:
        policy = _parsed_policy(subscription, text, scope)
        return filter_policy_evaluate(
            policy, scope=scope, message_attributes=message_attributes, body=message,
            validated=True,
        )  # fmt: skip
    except InvalidInput as exc:
        # Only a policy stored while these rules were off can get here: AWS holds none.
        return FilterResult(False, f"the subscription's filter policy is one AWS refuses: {exc}")
    except Exception as exc:  # never fail the publisher's request (moto's matcher did: 500)
        logger.exception("filter policy evaluation failed for %s", subscription.arn)
        return FilterResult(False, f"the filter policy could not be evaluated: {exc}")


def _subscription_publish(
    self: Any,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> FilterResult:
    result = delivery_decide(self, message, message_attributes)
    if not result.matched:
        return result
    # Stored before these rules were applied: moto's matcher would decide a second time.
    self._filter_policy_matcher = None
    _originals["subscription_publish"](
        self,
        message,
        message_id,
        subject=subject,
        message_attributes=message_attributes,
        group_id=group_id,
        deduplication_id=deduplication_id,
        message_structure=message_structure,
    )
    return result


# --- apply / revert -----------------------------------------------------------------------


def filtering_active() -> bool:
    return bool(_originals)


def filtering_apply() -> bool:
    """Apply AWS's filter-policy rules; returns whether they are active (never raises)."""
    if _originals:
        return True
    if not moto_supported("filter-policy rules (AWS's in place of moto's)"):
        return False
    from moto.sns import models as sns_models
    from moto.sns.models import SNSBackend, Subscription
    from moto.sns.responses import SNSResponse

    _originals["subscribe"] = SNSResponse.__dict__["subscribe"]
    SNSResponse.subscribe = _subscribe  # type: ignore[method-assign]
    _originals["set_subscription_attributes"] = SNSBackend.__dict__["set_subscription_attributes"]
    SNSBackend.set_subscription_attributes = _set_subscription_attributes  # type: ignore[method-assign]
    _originals["validate_filter_policy"] = SNSBackend.__dict__["_validate_filter_policy"]
    SNSBackend._validate_filter_policy = _validate_filter_policy  # type: ignore[method-assign]
    _originals["matcher"] = sns_models.FilterPolicyMatcher
    sns_models.FilterPolicyMatcher = _NoMatcher  # type: ignore[misc,assignment]
    _originals["subscription_publish"] = Subscription.__dict__["publish"]
    Subscription.publish = _subscription_publish  # type: ignore[method-assign,assignment]
    return True


def filtering_revert() -> None:
    """Back to stock moto. Subscriptions made meanwhile keep their policy text but filter
    with moto's matcher only once their FilterPolicy is set again."""
    from moto.sns import models as sns_models
    from moto.sns.models import SNSBackend, Subscription
    from moto.sns.responses import SNSResponse

    if "subscribe" in _originals:
        SNSResponse.subscribe = _originals.pop("subscribe")  # type: ignore[method-assign]
    if "set_subscription_attributes" in _originals:
        SNSBackend.set_subscription_attributes = _originals.pop("set_subscription_attributes")  # type: ignore[method-assign]
    if "validate_filter_policy" in _originals:
        SNSBackend._validate_filter_policy = _originals.pop("validate_filter_policy")  # type: ignore[method-assign]
    if "matcher" in _originals:
        sns_models.FilterPolicyMatcher = _originals.pop("matcher")  # type: ignore[misc]
    if "subscription_publish" in _originals:
        Subscription.publish = _originals.pop("subscription_publish")  # type: ignore[method-assign]


__all__ = ["delivery_decide", "filtering_active", "filtering_apply", "filtering_revert"]
