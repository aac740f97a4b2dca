"""Flowdash's own exceptions: what went wrong, in words a user can act on.

`ClientError`, botocore's connection errors and answers botocore cannot read stop
at the `messaging` boundary (`aws_errors`). Callers catch these classes instead; each
keeps the AWS error code, and input errors name the field that caused them so a form
can show the message next to it and the API can return it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

#: A 5xx answer, or an AWS code saying the service itself failed. No backend message is
#: quoted: moto's is an HTML page with a Python traceback in it.
BACKEND_FAILED = (
    "The backend failed while handling the request ({reason}); whether the request took "
    "effect is unknown. Check the backend's log before trying again."
)
#: An answer botocore could not parse, or one lacking what AWS always sends.
UNREADABLE_ANSWER = (
    "The backend's answer could not be read: it is not the XML or JSON that SNS and SQS "
    "send, so whether the request took effect is unknown. Check that the endpoint URL "
    "points at an SNS/SQS service, and the backend's log."
)
#: The code of an unreadable answer, which has no AWS error code of its own.
UNREADABLE_CODE = "UnreadableAnswer"


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


class BackendFailed(FlowdashError):
    """The backend answered with a server error (5xx) or with something unreadable."""

    status = 502


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
#: Codes by which a service says it failed, whatever HTTP status came with them.
SERVER_ERROR_CODES = frozenset(
    {
        "InternalError",
        "InternalErrorException",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceUnavailableError",
        "KMSInternalException",
    }
)


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
    if code in SERVER_ERROR_CODES or (isinstance(status, int) and status >= 500):
        return backend_failed(status, code)
    if _no_aws_code(code, status):  # a proxy's 404 page, JSON without "__type": not AWS's
        return BackendFailed(UNREADABLE_ANSWER, code=UNREADABLE_CODE)
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
    except FlowdashError:
        raise
    except Exception as exc:
        # ResponseParserError is no BotoCoreError, and botocore's parsers also fail with
        # KeyError or UnicodeDecodeError on some bodies. A KeyError in the block itself is an
        # answer that parsed (botocore's JSON parser accepts any text) but lacks its fields.
        in_parser, status = _parser_failure(exc)
        if not (in_parser or isinstance(exc, (ResponseParserError, KeyError))):
            raise
        if status is not None and status >= 500:  # moto's HTML 500, a proxy's 503 page
            raise backend_failed(status, str(status)) from exc
        raise BackendFailed(UNREADABLE_ANSWER, code=UNREADABLE_CODE) from exc


def backend_failed(status: int | None, code: str) -> BackendFailed:
    """BACKEND_FAILED for an HTTP status and AWS code; an answer without an AWS code is
    known by its status alone ("500"), as botocore names it."""
    if _no_aws_code(code, status):
        return BackendFailed(BACKEND_FAILED.format(reason=f"HTTP {status}"), code=str(status))
    reason = f"HTTP {status}, {code}" if status else code
    return BackendFailed(BACKEND_FAILED.format(reason=reason), code=code)


def _no_aws_code(code: str, status: int | None) -> bool:
    """botocore's code for an error answer that named none: "Unknown" when XML without an
    ``<Code>`` parsed (an XHTML page), the HTTP status when JSON lacked ``__type``."""
    return code in ("", "Unknown") or code == str(status)


def _parser_failure(exc: BaseException) -> tuple[bool, int | None]:
    """Whether botocore's response parser raised ``exc``, and the HTTP status of the answer
    it failed on. The parser's frames are still on the traceback, and
    ``ResponseParser.parse(response, shape)`` holds the raw response dict; the status is
    best effort (None when botocore names things differently)."""
    in_parser, status = False, None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__") == "botocore.parsers":
            in_parser = True
            response = frame.f_locals.get("response")
            if status is None and isinstance(response, dict):
                code = response.get("status_code")
                status = code if isinstance(code, int) else None
        tb = tb.tb_next
    return in_parser, status
