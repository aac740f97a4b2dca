"""SNS beyond SQS: text messages to phone numbers and mobile push to devices.

On real AWS an SMS costs money and reaches a real phone, and mobile push needs
credentials from Apple or Google; Flowdash exposes them because a class should
see them, and the embedded backend records them instead of sending (see
``embedded.contents.moto_sns_outbox``).
"""

from __future__ import annotations

from .connection import Connection
from .errors import InvalidInput, aws_errors
from .resources import arn_name, ownership_check, qualified_name
from .validation import PHONE_RE, body_validate, resource_name_validate

SMS_MAX_BYTES = 1600
PLATFORMS = ("GCM", "APNS", "APNS_SANDBOX", "ADM", "BAIDU", "MPNS", "WNS")
#: The account id moto gives every resource unless told otherwise.
MOTO_ACCOUNT = "123456789012"


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


def platform_application_create(
    conn: Connection, *, name: str, platform: str = "GCM", credential: str = "flowdash-demo"
) -> str:
    """A platform application (the app on the devices); returns its ARN."""
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="topic", fifo=False)
    if platform not in PLATFORMS:
        raise InvalidInput(f"Platform must be one of {', '.join(PLATFORMS)}.", field="platform")
    with aws_errors(field="name"):
        return conn.sns.create_platform_application(
            Name=name,
            Platform=platform,
            Attributes={"PlatformCredential": credential, "PlatformPrincipal": "flowdash"},
        )["PlatformApplicationArn"]


def platform_endpoint_create(conn: Connection, *, application_arn: str, token: str) -> str:
    """A device (its push token) of an application; returns the endpoint ARN."""
    conn.write_check()
    ownership_check(conn, arn_name(application_arn))
    if not token.strip():
        raise InvalidInput("Enter the device's push token.", field="token")
    with aws_errors(field="token"):
        return conn.sns.create_platform_endpoint(
            PlatformApplicationArn=application_arn, Token=token.strip()
        )["EndpointArn"]


def push_send(conn: Connection, *, endpoint_arn: str, body: str) -> str:
    """Publish straight to one device; returns the MessageId."""
    conn.write_check()
    parts = endpoint_arn.split("/")
    if len(parts) < 4 or ":endpoint/" not in endpoint_arn:
        raise InvalidInput("Choose a platform endpoint (its ARN).", field="endpoint_arn")
    ownership_check(conn, parts[-2])
    body_validate(body, limit=256 * 1024)
    with aws_errors(field="endpoint_arn"):
        return conn.sns.publish(TargetArn=endpoint_arn, Message=body)["MessageId"]


def direct_sends_list(conn: Connection) -> list[dict[str, str]]:
    """The SMS and mobile pushes published straight to a number or device (not through
    a subscription), oldest first, each as ``{kind, message_id, to, body}``.

    Only the embedded backend can answer: moto records these instead of sending them.
    AWS keeps no such list, so on other backends the answer is empty.
    """
    if conn.backend != "embedded":
        return []
    from .embedded.contents import moto_sns_outbox  # moto is imported only when embedded

    return moto_sns_outbox(account=MOTO_ACCOUNT, region=conn.config.region)
