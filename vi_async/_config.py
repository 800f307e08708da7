"""Client settings: credentials from arguments or the environment, timeouts, limits."""

from __future__ import annotations

import os
from typing import Any

import attrs

from .errors import ViConfigError

ENV_SECRET_KEY = "DATATURE_VI_SECRET_KEY"
ENV_ORGANIZATION_ID = "DATATURE_VI_ORGANIZATION_ID"
ENV_ENDPOINT = "DATATURE_VI_API_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.vi.datature.com/"
SECRET_KEY_PREFIX = "dtvi_"
SECRET_KEY_LENGTH = 103


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, (int, float)) or value <= 0:
        raise ViConfigError(f"{attribute.name} must be a positive number, got {value!r}")


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value < 0:
        raise ViConfigError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(repr=False)
class ClientConfig:
    """Resolved, validated settings of one client. The repr masks the secret."""

    secret_key: str
    organization_id: str
    endpoint: str
    timeout: float = attrs.field(default=30.0, validator=_positive)
    max_retries: int = attrs.field(default=4, validator=_non_negative)
    retry_deadline: float | None = attrs.field(default=120.0, validator=_positive_or_none)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    max_connections: int = attrs.field(default=100, validator=_positive)
    retry_budget: int = attrs.field(default=500, validator=_non_negative)
    retry_base_delay: float = attrs.field(default=0.25, validator=_positive)
    cancel_grace: float = attrs.field(default=10.0, validator=_non_negative)

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


def check_secret_key(secret_key: str) -> None:
    """Reject a key that cannot be a Vi secret key, without echoing it."""
    if not secret_key.startswith(SECRET_KEY_PREFIX) or len(secret_key) != SECRET_KEY_LENGTH:
        raise ViConfigError(
            f"The secret key is malformed: Vi keys start with {SECRET_KEY_PREFIX!r} and are "
            f"{SECRET_KEY_LENGTH} characters long (got {len(secret_key)} characters)"
        )
