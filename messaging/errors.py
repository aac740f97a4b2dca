"""Flowdash's own exceptions: what went wrong, in words a user can act on.

`ClientError` and botocore's connection errors stop at the `messaging` boundary
(`aws_errors`). Callers catch these classes instead; each keeps the AWS error code,
and input errors name the field that caused them so a form can show the message
next to it and the API can return it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)


class FlowdashError(Exception):
    """Base class. ``field`` names the input at fault, when there is one."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or type(self).__name__


class InvalidInput(FlowdashError):
    """The request breaks a rule of SNS/SQS; nothing was sent to AWS."""


class ResourceNotFound(FlowdashError):
    """The topic, queue or subscription does not exist (any more)."""

    status = 404


class ResourceConflict(FlowdashError):
    """A resource of that name exists with different settings."""

    status = 409


class OutsidePrefix(FlowdashError):
    """The resource is not under Flowdash's name prefix, so Flowdash leaves it alone."""

    status = 403


class ReadOnly(FlowdashError):
    """Flowdash runs observe-only (FLOWDASH_READ_ONLY): nothing in AWS may change."""

    status = 403


class AccessDenied(FlowdashError):
    """AWS refused the credentials or the permission for this call."""

    status = 403


class Throttled(FlowdashError):
    """AWS is rate-limiting us; botocore already retried. Try again shortly."""

    status = 429


class BackendUnavailable(FlowdashError):
    """The endpoint did not answer: the emulator is down or the network is."""

    status = 503


class AwsError(FlowdashError):
    """Any other error AWS returned, passed on with its code and message."""

    status = 502


ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidSecurity",
        "KMSAccessDenied",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "NotFound",
        "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
    }
)
INVALID_INPUT_CODES = frozenset(
    {
        "InvalidParameter",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidAttributeValue",
        "InvalidAttributeName",
        "InvalidMessageContents",
        "MissingParameter",
        "ValidationError",
        "ValidationException",
        "InvalidParameterCombination",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "ReceiptHandleIsInvalid",
        "InvalidBatchEntryId",
        "InvalidAddress",
    }
)
CONFLICT_CODES = frozenset({"QueueAlreadyExists", "QueueNameExists"})


def from_client_error(exc: ClientError, *, field: str | None = None) -> FlowdashError:
    """Map an AWS error response to the Flowdash exception a caller can act on."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message") or code)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ACCESS_DENIED_CODES:
        return AccessDenied(f"AWS denied access ({code}): {message}", code=code)
    if code in THROTTLING_CODES:
        return Throttled(f"AWS is throttling requests ({code}); try again shortly.", code=code)
    if code in NOT_FOUND_CODES:
        return ResourceNotFound(message, code=code, field=field)
    if code in CONFLICT_CODES:
        return ResourceConflict(message, code=code, field=field)
    if code in INVALID_INPUT_CODES or status == 400:
        return InvalidInput(message, code=code, field=field)
    return AwsError(f"AWS error {code}: {message}", code=code)


@contextmanager
def aws_errors(*, field: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions raised inside the block into Flowdash's."""
    try:
        yield
    except ClientError as exc:
        raise from_client_error(exc, field=field) from exc
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise BackendUnavailable(
            f"The AWS endpoint did not answer: {exc}", code="EndpointUnavailable"
        ) from exc
    except NoCredentialsError as exc:
        raise AccessDenied(
            "No AWS credentials found in boto3's credential chain.", code="NoCredentials"
        ) from exc
    except BotoCoreError as exc:
        raise BackendUnavailable(f"AWS call failed: {exc}", code=type(exc).__name__) from exc
