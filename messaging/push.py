"""SNS beyond SQS: text messages to phone numbers and mobile push to devices.

On real AWS an SMS costs money and reaches a real phone, and mobile push needs
credentials from Apple or Google; Flowdash exposes them because a class should
see them, and the embedded backend records them instead of sending (see
``embedded.contents.moto_sns_outbox``).

Mobile push, as the course explains it: a **platform application** (the app,
with the platform's credentials), one **platform endpoint** per device (its push
token, custom user data, enabled state), endpoints **subscribed** to a topic with
protocol ``application``, and a publication with ``MessageStructure=json`` that
carries one payload per platform beside the ``default`` text.

Rules checked here, before anything is sent, so a refused request creates nothing
and every backend answers alike (moto accepts almost anything):

- platforms: ``PLATFORMS``; tokens: hex for Apple, an HTTPS URL for Microsoft's
  channels, otherwise the characters the push services issue (``TOKEN_RULES``);
- a structured message is a JSON object of strings with a ``default`` entry, keys
  from ``STRUCTURE_KEYS``, each platform payload JSON text where the platform reads
  JSON, and within the platform's payload limit (``PUSH_LIMITS``);
- a disabled endpoint (the platform said its token is invalid, or someone switched
  it off) gets nothing: a direct push to it is refused with ``EndpointDisabled``.

Credentials (``PlatformCredential``, ``PlatformPrincipal``) go to SNS and nowhere
else: nothing here returns, logs or stores them, and reads drop them from what
SNS answers (moto answers them back; AWS does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .connection import Connection
from .errors import InvalidInput, ResourceNotFound, aws_errors
from .resources import arn_name, is_listed, ownership_check, qualified_name, topic_arns
from .validation import PHONE_RE, SNS_MAX_MESSAGE_BYTES, body_validate, resource_name_validate

SMS_MAX_BYTES = 1600
PLATFORMS = ("GCM", "APNS", "APNS_SANDBOX", "ADM", "BAIDU", "MPNS", "WNS")
#: The account id moto gives every resource unless told otherwise.
MOTO_ACCOUNT = "123456789012"
#: The emulators' stand-in credential: moto and LocalStack check none; AWS would refuse it.
DEMO_CREDENTIAL = "flowdash-demo"
#: Attributes that hold secrets: sent to SNS, never shown back.
SECRET_ATTRIBUTES = frozenset({"PlatformCredential", "PlatformPrincipal"})

#: Payload limits of the push services behind each platform, in bytes (APNs and FCM
#: take 4 KB; Amazon Device Messaging 6 KB; Microsoft's 3 and 5 KB). SNS refuses or
#: drops a notification over them, whatever its own 256 KiB allows.
PUSH_LIMITS = {
    "APNS": 4096, "APNS_SANDBOX": 4096, "APNS_VOIP": 4096, "APNS_VOIP_SANDBOX": 4096,
    "MACOS": 4096, "MACOS_SANDBOX": 4096, "GCM": 4096, "ADM": 6144, "BAIDU": 4096,
    "MPNS": 3072, "WNS": 5120,
}  # fmt: skip
#: What a device of a platform with no key of its own receives is ``default``: held to
#: APNs' and FCM's limit, so it reaches the devices of both (MPNS's 3 KB is the only
#: smaller one, and Microsoft retired it).
DEFAULT_PUSH_LIMIT = 4096
#: Platform payloads that the platform reads as JSON (Microsoft's are XML or text).
JSON_PAYLOAD_KEYS = frozenset(PUSH_LIMITS) - {"MPNS", "WNS"}
#: Keys a ``MessageStructure=json`` message may have: ``default``, one per push
#: platform, and one per other protocol a topic delivers to.
PROTOCOL_KEYS = ("sqs", "http", "https", "email", "email-json", "sms", "lambda", "firehose")
STRUCTURE_KEYS = ("default", *PUSH_LIMITS, *PROTOCOL_KEYS)

#: Device tokens as the push services issue them: (pattern, what to tell the user).
TOKEN_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "APNS": (
        re.compile(r"^(?:[0-9a-fA-F]{2}){32,100}$"),
        "An Apple device token is 64 to 200 hexadecimal characters.",
    ),
    "MPNS": (
        re.compile(r"^https://[^\s]{1,2040}$"),
        "A Microsoft push channel is an https:// URL.",
    ),
}
TOKEN_RULES["APNS_SANDBOX"] = TOKEN_RULES["APNS"]
TOKEN_RULES["WNS"] = TOKEN_RULES["MPNS"]
#: FCM registration tokens, ADM registration ids and Baidu channel ids.
OTHER_TOKEN = (
    re.compile(r"^[A-Za-z0-9_:.\-]{1,4096}$"),
    "A device token may contain only letters, digits, '_', ':', '.' and '-' (at most 4,096).",
)
CUSTOM_USER_DATA_MAX = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformApplication:
    """An app on one push platform. Its credentials are not here, on purpose."""

    arn: str
    name: str
    platform: str
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformEndpoint:
    """One device of an application: where SNS pushes to."""

    arn: str
    application_arn: str
    platform: str
    token: str
    custom_user_data: str = ""
    enabled: bool = True


# --- ARNs


def application_arn_parse(arn: str) -> tuple[str, str]:
    """``(platform, name)`` of ``arn:aws:sns:<region>:<account>:app/<platform>/<name>``."""
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    parts = resource.split("/")
    if len(parts) != 3 or parts[0] != "app" or not parts[2]:
        raise InvalidInput(
            "Choose a platform application (its ARN, arn:aws:sns:...:app/<platform>/<name>).",
            field="application_arn",
        )
    return parts[1], parts[2]


def endpoint_application_arn(endpoint_arn: str) -> str:
    """The application an endpoint ARN (``...:endpoint/<platform>/<app>/<id>``) belongs to."""
    head, _, resource = endpoint_arn.rpartition(":")
    parts = resource.split("/")
    if endpoint_arn.count(":") < 5 or len(parts) != 4 or parts[0] != "endpoint" or not parts[3]:
        raise InvalidInput("Choose a platform endpoint (its ARN).", field="endpoint_arn")
    return f"{head}:app/{parts[1]}/{parts[2]}"


def _owned_application(conn: Connection, arn: str) -> tuple[str, str]:
    platform, name = application_arn_parse(arn)
    ownership_check(conn, name)
    return platform, name


def _owned_endpoint(conn: Connection, arn: str) -> tuple[str, str]:
    """The endpoint's (platform, application ARN), once its application is Flowdash's."""
    app_arn = endpoint_application_arn(arn)
    platform, _ = _owned_application(conn, app_arn)
    return platform, app_arn


# --- SMS


def sms_send(conn: Connection, *, phone_number: str, body: str) -> str:
    """Publish straight to a phone number; returns the MessageId."""
    conn.write_check()
    if not PHONE_RE.match(phone_number):
        raise InvalidInput(
            "Enter a phone number in E.164 form, such as +14155550100.", field="phone_number"
        )
    body_validate(body, limit=SMS_MAX_BYTES)
    with aws_errors(field="phone_number"):
        return conn.sns.publish(PhoneNumber=phone_number, Message=body)["MessageId"]


# --- Platform applications


def platform_application_create(
    conn: Connection,
    *,
    name: str,
    platform: str = "GCM",
    credential: str | None = None,
    principal: str | None = None,
) -> str:
    """A platform application (the app on the devices); returns its ARN.

    ``credential`` (the FCM server key or Apple private key) and ``principal`` (Apple's
    certificate or key id) are the platform's secrets. An emulator (``embedded``, an
    ``endpoint`` such as LocalStack) gets a stand-in when none is given; real AWS checks
    them against the platform, so there they are required.
    """
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="topic", fifo=False)
    if platform not in PLATFORMS:
        raise InvalidInput(
            f"Unknown platform {platform[:40]!r}: choose one of {', '.join(PLATFORMS)}.",
            field="platform",
        )
    if not credential or not credential.strip():
        if conn.backend == "aws":
            raise InvalidInput(
                f"Enter the {platform} credential SNS signs in to the push service with.",
                field="credential",
            )
        credential = DEMO_CREDENTIAL
    attributes = {"PlatformCredential": credential.strip(), "PlatformPrincipal": "flowdash"}
    if principal and principal.strip():
        attributes["PlatformPrincipal"] = principal.strip()
    with aws_errors(field="name"):
        arn = conn.sns.create_platform_application(
            Name=name, Platform=platform, Attributes=attributes
        )["PlatformApplicationArn"]
    conn.notify("topology.changed")
    return arn


def platform_application_list(conn: Connection) -> list[PlatformApplication]:
    """Flowdash's platform applications (under its prefix), by name."""
    apps: list[PlatformApplication] = []
    with aws_errors():
        for page in conn.sns.get_paginator("list_platform_applications").paginate():
            for listed in page.get("PlatformApplications", []):
                arn = listed["PlatformApplicationArn"]
                _, name = application_arn_parse(arn)
                if is_listed(conn, name):
                    apps.append(_application(arn, listed.get("Attributes", {})))
    return sorted(apps, key=lambda a: a.name)


def platform_application_get(conn: Connection, *, arn: str) -> PlatformApplication:
    _owned_application(conn, arn)
    with aws_errors(field="application_arn"):
        attributes = conn.sns.get_platform_application_attributes(PlatformApplicationArn=arn)
    return _application(arn, attributes.get("Attributes", {}))


def platform_application_delete(conn: Connection, *, arn: str) -> int:
    """Delete the application and its endpoints, unsubscribing those from their topics
    first (SNS leaves an endpoint's subscriptions behind); returns how many devices went.

    Each endpoint is deleted by itself (one DeleteEndpoint each) before the application:
    LocalStack (2026.3) deletes an application without its endpoints, which then stay
    in its store, unlisted, with their tokens taken."""
    conn.write_check()
    platform_application_get(conn, arn=arn)  # raises if gone or not Flowdash's
    endpoints = {e.arn for e in platform_endpoint_list(conn, application_arn=arn)}
    _unsubscribe_endpoints(conn, endpoints)
    with aws_errors(field="application_arn"):
        for endpoint_arn in sorted(endpoints):
            conn.sns.delete_endpoint(EndpointArn=endpoint_arn)
        conn.sns.delete_platform_application(PlatformApplicationArn=arn)
    conn.notify("topology.changed")
    return len(endpoints)


def _application(arn: str, attributes: Mapping[str, str]) -> PlatformApplication:
    platform, name = application_arn_parse(arn)
    return PlatformApplication(
        arn=arn, name=name, platform=platform,
        enabled=str(attributes.get("Enabled", "true")).lower() != "false",
    )  # fmt: skip


# --- Platform endpoints (devices)


def token_validate(platform: str, token: str) -> str:
    """The token, trimmed, if it has the shape the platform's push service issues."""
    token = token.strip()
    if not token:
        raise InvalidInput("Enter the device's push token.", field="token")
    pattern, explanation = TOKEN_RULES.get(platform, OTHER_TOKEN)
    if not pattern.match(token):
        raise InvalidInput(f"That is not a {platform} device token. {explanation}", field="token")
    return token


def custom_user_data_validate(data: str | None) -> str:
    data = data or ""
    if len(data.encode()) > CUSTOM_USER_DATA_MAX:
        raise InvalidInput(
            f"Custom user data can be at most {CUSTOM_USER_DATA_MAX:,} bytes.",
            field="custom_user_data",
        )
    return data


def platform_endpoint_create(
    conn: Connection,
    *,
    application_arn: str,
    token: str,
    custom_user_data: str | None = None,
    enabled: bool = True,
) -> str:
    """A device (its push token) of an application; returns the endpoint ARN.

    Idempotent as SNS is: the same token with the same data gives the same endpoint;
    the same token with other data is refused.
    """
    conn.write_check()
    platform, _ = _owned_application(conn, application_arn)
    token = token_validate(platform, token)
    data = custom_user_data_validate(custom_user_data)
    params: dict[str, Any] = {"PlatformApplicationArn": application_arn, "Token": token}
    if data:
        params["CustomUserData"] = data
    if not enabled:
        params["Attributes"] = {"Enabled": "false"}
    with aws_errors(field="token"):
        arn: str = conn.sns.create_platform_endpoint(**params)["EndpointArn"]
    conn.notify("topology.changed")
    return arn


def platform_endpoint_list(conn: Connection, *, application_arn: str) -> list[PlatformEndpoint]:
    platform, _ = _owned_application(conn, application_arn)
    endpoints: list[PlatformEndpoint] = []
    with aws_errors(field="application_arn"):
        pages = conn.sns.get_paginator("list_endpoints_by_platform_application").paginate(
            PlatformApplicationArn=application_arn
        )
        for page in pages:
            endpoints.extend(
                _endpoint(e["EndpointArn"], application_arn, platform, e.get("Attributes", {}))
                for e in page.get("Endpoints", [])
            )
    return endpoints


def platform_endpoint_get(conn: Connection, *, arn: str) -> PlatformEndpoint:
    platform, app_arn = _owned_endpoint(conn, arn)
    with aws_errors(field="endpoint_arn"):
        attributes = conn.sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]
    return _endpoint(arn, app_arn, platform, attributes)


def platform_endpoint_update(
    conn: Connection, *, arn: str, custom_user_data: str | None = None, enabled: bool | None = None
) -> PlatformEndpoint:
    """Change a device's custom user data and/or switch it on or off (``Enabled``).

    A disabled endpoint is what SNS makes of a device whose token the platform calls
    invalid: it receives nothing until enabled again."""
    conn.write_check()
    platform_endpoint_get(conn, arn=arn)  # raises if gone or not Flowdash's
    attributes: dict[str, str] = {}
    if custom_user_data is not None:
        attributes["CustomUserData"] = custom_user_data_validate(custom_user_data)
    if enabled is not None:
        attributes["Enabled"] = "true" if enabled else "false"
    if attributes:
        with aws_errors(field="endpoint_arn"):
            conn.sns.set_endpoint_attributes(EndpointArn=arn, Attributes=attributes)
        conn.notify("topology.changed")
    return platform_endpoint_get(conn, arn=arn)


def platform_endpoint_delete(conn: Connection, *, arn: str) -> None:
    """Delete a device, unsubscribing it from its topics first (AWS's advice: SNS
    leaves an endpoint's subscriptions behind when the endpoint goes)."""
    conn.write_check()
    _owned_endpoint(conn, arn)
    _unsubscribe_endpoints(conn, {arn})
    with aws_errors(field="endpoint_arn"):
        conn.sns.delete_endpoint(EndpointArn=arn)
    conn.notify("topology.changed")


def _endpoint(
    arn: str, application_arn: str, platform: str, attributes: Mapping[str, str]
) -> PlatformEndpoint:
    return PlatformEndpoint(
        arn=arn, application_arn=application_arn, platform=platform,
        token=str(attributes.get("Token", "")),
        custom_user_data=str(attributes.get("CustomUserData") or ""),
        enabled=str(attributes.get("Enabled", "true")).lower() != "false",
    )  # fmt: skip


def _endpoint_subscriptions(conn: Connection, endpoints: set[str]) -> Iterator[str]:
    """ARNs of the subscriptions of Flowdash's topics that deliver to these endpoints."""
    for topic_arn in topic_arns(conn):
        pages = conn.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for page in pages:
            for sub in page.get("Subscriptions", []):
                if sub["Protocol"] == "application" and sub["Endpoint"] in endpoints:
                    yield sub["SubscriptionArn"]


def _unsubscribe_endpoints(conn: Connection, endpoints: set[str]) -> None:
    if not endpoints:
        return
    with aws_errors(field="endpoint_arn"):
        for sub_arn in list(_endpoint_subscriptions(conn, endpoints)):
            conn.sns.unsubscribe(SubscriptionArn=sub_arn)


def push_topology(conn: Connection) -> tuple[list[PlatformApplication], list[PlatformEndpoint]]:
    """Every Flowdash application and its devices: what the diagram draws beside topics."""
    apps = platform_application_list(conn)
    endpoints: list[PlatformEndpoint] = []
    for app in apps:
        try:
            endpoints.extend(platform_endpoint_list(conn, application_arn=app.arn))
        except ResourceNotFound:  # deleted between the listing and the read
            continue
    return apps, endpoints


# --- Publishing


def push_send(conn: Connection, *, endpoint_arn: str, body: str) -> str:
    """Publish straight to one device; returns the MessageId."""
    conn.write_check()
    platform, _ = _owned_endpoint(conn, endpoint_arn)
    body_validate(body, limit=SNS_MAX_MESSAGE_BYTES)
    limit, size = PUSH_LIMITS.get(platform, DEFAULT_PUSH_LIMIT), len(body.encode())
    if size > limit:
        raise InvalidInput(
            f"The message is {size:,} bytes; a {platform} push notification can be at most "
            f"{limit:,} bytes.",
            field="body",
        )
    endpoint = platform_endpoint_get(conn, arn=endpoint_arn)
    if not endpoint.enabled:
        raise endpoint_disabled()
    with aws_errors(field="endpoint_arn"):
        return conn.sns.publish(TargetArn=endpoint_arn, Message=body)["MessageId"]


def endpoint_disabled() -> InvalidInput:
    return InvalidInput(
        "This device is switched off (its endpoint is disabled), so SNS delivers nothing "
        "to it. Enable the endpoint first.",
        field="endpoint_arn",
        code="EndpointDisabled",
    )


def structured_message_validate(message: str | Mapping[str, Any]) -> dict[str, str]:
    """A ``MessageStructure=json`` message, checked as SNS and the platforms would:
    a JSON object of strings, with ``default``, known keys only, JSON payloads for the
    platforms that read JSON, each within its push limit. Returns it as a dict."""
    if isinstance(message, str):
        try:
            parsed = json.loads(message)
        except (ValueError, RecursionError):
            raise InvalidInput(
                "The message must be JSON: an object with a 'default' text and one payload "
                'per platform, such as {"default": "Hi", "GCM": "{...}"}.',
                field="message",
            ) from None
    else:
        parsed = dict(message)
    if not isinstance(parsed, dict):
        raise InvalidInput("The message must be a JSON object.", field="message")
    unknown = sorted(str(k) for k in parsed if k not in STRUCTURE_KEYS)
    if unknown:
        raise InvalidInput(
            f"Unknown key {unknown[0][:40]!r} in the message: use 'default', a platform "
            f"({', '.join(PUSH_LIMITS)}) or a protocol ({', '.join(PROTOCOL_KEYS)}).",
            field="message",
        )
    if not isinstance(parsed.get("default"), str) or not parsed["default"].strip():
        raise InvalidInput(
            "The message needs a 'default' text: SNS sends it to every subscription "
            "with no payload of its own.",
            field="message",
        )
    for key, value in parsed.items():
        if not isinstance(value, str):
            raise InvalidInput(
                f"The {key} payload must be a string (JSON text, escaped), as SNS reads it.",
                field="message",
            )
        if key in JSON_PAYLOAD_KEYS:
            try:
                ok = isinstance(json.loads(value), dict)
            except (ValueError, RecursionError):
                ok = False
            if not ok:
                raise InvalidInput(
                    f"The {key} payload must be a JSON object written as text, such as "
                    + ('"{\\"aps\\": {\\"alert\\": \\"Hi\\"}}"' if key.startswith(("APNS", "MAC"))
                       else '"{\\"notification\\": {\\"body\\": \\"Hi\\"}}"')
                    + ".",
                    field="message",
                )  # fmt: skip
        limit = PUSH_LIMITS.get(key, DEFAULT_PUSH_LIMIT if key == "default" else None)
        size = len(value.encode())
        if limit is not None and size > limit:
            raise InvalidInput(
                f"The {key} payload is {size:,} bytes; a push notification can be at most "
                f"{limit:,} bytes.",
                field="message",
            )
    return parsed


def topic_push_publish(
    conn: Connection,
    *,
    topic_arn: str,
    message: str | Mapping[str, Any],
    subject: str | None = None,
) -> str:
    """Publish one message per platform to a topic (``MessageStructure=json``): every
    subscribed, enabled device gets its platform's payload, or ``default``."""
    conn.write_check()
    ownership_check(conn, arn_name(topic_arn))
    parsed = structured_message_validate(message)
    text = json.dumps(parsed)
    body_validate(text, limit=SNS_MAX_MESSAGE_BYTES)
    params: dict[str, Any] = {"TopicArn": topic_arn, "Message": text, "MessageStructure": "json"}
    if subject:
        params["Subject"] = subject
    with aws_errors(field="message"):
        message_id: str = conn.sns.publish(**params)["MessageId"]
    # Watched from outside, a tap sees only the ``sqs``/``default`` text of this: the
    # engine keeps the whole structure to show each device its platform's payload.
    conn.notify("push.published", message_id=message_id, message=text)
    return message_id


def payload_for(message: str, platform: str, *, structured: bool) -> str:
    """What a device of ``platform`` receives of a publication: its platform's payload
    when the message is structured and has one, else ``default`` (or the plain text)."""
    if not structured:
        return message
    try:
        parsed = json.loads(message)
    except (ValueError, RecursionError):
        return message
    if not isinstance(parsed, dict):
        return message
    chosen = parsed.get(platform, parsed.get("default", message))
    return chosen if isinstance(chosen, str) else json.dumps(chosen)


def direct_sends_list(conn: Connection) -> list[dict[str, str]]:
    """The SMS and mobile pushes SNS recorded (direct sends, and pushes delivered through
    a topic's ``application`` subscriptions), oldest first, each as ``{kind,
    message_id, to, body}``.

    Only the embedded backend can answer: moto records these instead of sending them.
    AWS keeps no such list, so on other backends the answer is empty.
    """
    if conn.backend != "embedded":
        return []
    from .embedded.contents import moto_sns_outbox  # moto is imported only when embedded

    return moto_sns_outbox(account=MOTO_ACCOUNT, region=conn.config.region)
