"""Where the AWS APIs live, read from the environment.

Three backends share one code path; only the endpoint and credentials differ:

- ``embedded``: a moto server that Flowdash starts in its own process on a
  loopback port, so a laptop with no account and no network works.
- ``endpoint``: any AWS-compatible URL (LocalStack, a shared moto server).
- ``aws``: real AWS through boto3's normal credential chain and region.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Backend = Literal["embedded", "endpoint", "aws"]
BACKENDS: tuple[Backend, ...] = ("embedded", "endpoint", "aws")

DEFAULT_REGION = "us-east-1"
DEFAULT_MOTO_PORT = 5005
#: On real AWS Flowdash shares an account with other software, so it only
#: touches names under this prefix. Emulators are Flowdash's own: no prefix.
DEFAULT_AWS_PREFIX = "flowdash-"


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


class ConfigError(ValueError):
    """The environment names a backend or value Flowdash cannot use."""


def _observer(value: str) -> str:
    value = value.strip().lower()
    if value not in ("inside", "outside"):
        raise ConfigError(f"FLOWDASH_OBSERVER must be inside or outside, not {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendConfig:
    backend: Backend = "embedded"
    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    resource_prefix: str = ""
    moto_host: str = "127.0.0.1"
    moto_port: int = DEFAULT_MOTO_PORT
    #: Speed-ups for the embedded moto server (messaging/embedded/fastpath.py).
    moto_fastpath: bool = True
    #: Flowdash's own requests to the embedded server skip HTTP (messaging/embedded/inprocess.py).
    moto_inprocess: bool = True
    #: How the embedded backend is watched: "inside" (the broker reports every
    #: operation; messaging/observer.py) or "outside" (taps and samples, as on AWS).
    observer: str = "inside"
    #: Observe only: every call that would change AWS state is refused.
    read_only: bool = False
    #: Embedded backend only: keep moto's state across restarts in the var directory
    #: (messaging/embedded/persistence.py).
    persist: bool = True
    #: Hosts an HTTP/HTTPS subscription may point at. SNS's servers call them, so an
    #: open list would let a user aim AWS at internal addresses. ``.example.com``
    #: allows subdomains too.
    http_allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackendConfig:
        env = os.environ if environ is None else environ
        backend = env.get("FLOWDASH_BACKEND", "embedded").strip().lower()
        if backend not in BACKENDS:
            raise ConfigError(
                f"FLOWDASH_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}"
            )
        endpoint_url = env.get("FLOWDASH_AWS_ENDPOINT_URL") or None
        if backend == "endpoint" and not endpoint_url:
            raise ConfigError("FLOWDASH_BACKEND=endpoint needs FLOWDASH_AWS_ENDPOINT_URL")
        default_prefix = DEFAULT_AWS_PREFIX if backend == "aws" else ""
        try:
            moto_port = int(env.get("FLOWDASH_MOTO_PORT", DEFAULT_MOTO_PORT))
        except ValueError as exc:
            raise ConfigError("FLOWDASH_MOTO_PORT must be a port number") from exc
        return cls(
            backend=backend,
            endpoint_url=endpoint_url if backend == "endpoint" else None,
            region=env.get("FLOWDASH_AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION,
            resource_prefix=env.get("FLOWDASH_RESOURCE_PREFIX", default_prefix),
            moto_host=env.get("FLOWDASH_MOTO_HOST", "127.0.0.1"),
            moto_port=moto_port,
            moto_fastpath=_flag(env.get("FLOWDASH_MOTO_FASTPATH", "1")),
            moto_inprocess=_flag(env.get("FLOWDASH_MOTO_INPROCESS", "1")),
            observer=_observer(env.get("FLOWDASH_OBSERVER", "inside")),
            read_only=_flag(env.get("FLOWDASH_READ_ONLY", "0")),
            persist=_flag(env.get("FLOWDASH_PERSIST", "1")),
            http_allowed_hosts=tuple(
                h.strip().lower()
                for h in env.get("FLOWDASH_HTTP_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
        )
