"""Client settings: credentials from arguments or the environment, timeouts, limits."""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from ._constants import (
    DEFAULT_CANCEL_GRACE,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
)
from ._mask import SECRET_KEY_PREFIX
from .errors import ViConfigError

ENV_SECRET_KEY = "DATATURE_VI_SECRET_KEY"
ENV_ORGANIZATION_ID = "DATATURE_VI_ORGANIZATION_ID"
ENV_ENDPOINT = "DATATURE_VI_API_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.vi.datature.com/"
SECRET_KEY_LENGTH = 103
# C0 and C1 controls (CR, LF, tab, NUL, DEL...) and Unicode line separators: in a header
# or a URL they would split or smuggle HTTP lines.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ViConfigError(f"{attribute.name} must be a positive number, got {value!r}")


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _positive_int(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is not int or value <= 0:
        raise ViConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ViConfigError(f"{attribute.name} must be a number >= 0, got {value!r}")
    if value < 0:
        raise ViConfigError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(repr=False)
class ClientConfig:
    """Resolved, validated settings of one client. The repr masks the secret."""

    secret_key: str
    organization_id: str
    endpoint: str
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_positive)
    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_non_negative)
    retry_deadline: float | None = attrs.field(
        default=DEFAULT_RETRY_DEADLINE, validator=_positive_or_none
    )
    max_retry_after: float = attrs.field(default=DEFAULT_MAX_RETRY_AFTER, validator=_non_negative)
    max_connections: int = attrs.field(default=DEFAULT_MAX_CONNECTIONS, validator=_positive)
    retry_budget: int = attrs.field(default=500, validator=_non_negative)
    retry_base_delay: float = attrs.field(default=DEFAULT_RETRY_BASE_DELAY, validator=_positive)
    max_response_bytes: int = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validator=_positive_int
    )
    cancel_grace: float = attrs.field(default=DEFAULT_CANCEL_GRACE, validator=_non_negative)
    read_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)

    def __repr__(self) -> str:
        return (
            f"ClientConfig(organization_id={self.organization_id!r}, endpoint={self.endpoint!r}, "
            f"secret_key='***', timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    @classmethod
    def resolve(
        cls,
        secret_key: str | None,
        organization_id: str | None,
        endpoint: str | None,
        **settings: Any,
    ) -> ClientConfig:
        """Fill missing credentials from the environment and validate everything."""
        _check_no_control(secret_key, "secret_key", ENV_SECRET_KEY)
        _check_no_control(organization_id, "organization_id", ENV_ORGANIZATION_ID)
        _check_no_control(endpoint, "endpoint", ENV_ENDPOINT)
        secret_key = secret_key if secret_key is not None else os.environ.get(ENV_SECRET_KEY)
        organization_id = (
            organization_id if organization_id is not None else os.environ.get(ENV_ORGANIZATION_ID)
        )
        endpoint = endpoint or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT
        if not secret_key:
            raise ViConfigError(
                "No secret key: pass secret_key=... or set the "
                f"{ENV_SECRET_KEY} environment variable"
            )
        check_secret_key(secret_key)
        if not organization_id:
            raise ViConfigError(
                "No organization id: pass organization_id=... or set the "
                f"{ENV_ORGANIZATION_ID} environment variable"
            )
        if not endpoint.startswith(("http://", "https://")):
            raise ViConfigError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if not endpoint.endswith("/"):
            endpoint += "/"
        return cls(secret_key, organization_id, endpoint, **settings)


def _check_no_control(value: str | None, name: str, env: str) -> None:
    """Refuse control characters (CR/LF above all) in a setting given as ``name=`` or,
    when ``value`` is None, read from ``env``: naming where it came from, never showing it."""
    source = name
    if value is None:
        value, source = os.environ.get(env), f"the {env} environment variable"
    if value and _CONTROL.search(value):
        raise ViConfigError(
            f"{source} contains a control character such as CR or LF; "
            "check for a stray newline (the value is not shown)"
        )


def check_secret_key(secret_key: str) -> None:
    """Reject a key that cannot be a Vi secret key, without echoing it."""
    if not secret_key.startswith(SECRET_KEY_PREFIX) or len(secret_key) != SECRET_KEY_LENGTH:
        raise ViConfigError(
            f"The secret key is malformed: Vi keys start with {SECRET_KEY_PREFIX!r} and are "
            f"{SECRET_KEY_LENGTH} characters long (got {len(secret_key)} characters)"
        )
