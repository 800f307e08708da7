"""Client settings: environment, clear errors, secrets never shown."""

from __future__ import annotations

import pytest

from vi_async import Client, ViConfigError

KEY = "dtvi_" + "a" * 98


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATATURE_VI_SECRET_KEY", raising=False)
    with pytest.raises(ViConfigError, match="DATATURE_VI_SECRET_KEY"):
        Client(organization_id="org")


def test_missing_organization_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATATURE_VI_ORGANIZATION_ID", raising=False)
    with pytest.raises(ViConfigError, match="DATATURE_VI_ORGANIZATION_ID"):
        Client(secret_key=KEY)


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATATURE_VI_SECRET_KEY", KEY)
    monkeypatch.setenv("DATATURE_VI_ORGANIZATION_ID", "org-env")
    monkeypatch.setenv("DATATURE_VI_API_ENDPOINT", "http://127.0.0.1:9")
    client = Client()
    assert client.organization_id == "org-env"
    assert client.endpoint == "http://127.0.0.1:9/"


def test_malformed_key_is_refused_without_echoing_it() -> None:
    bad = "dtvi_secret-value-that-is-too-short"
    with pytest.raises(ViConfigError) as info:
        Client(secret_key=bad, organization_id="org")
    assert bad not in str(info.value)
    assert "secret-value" not in repr(info.value)


def test_repr_hides_the_secret() -> None:
    client = Client(secret_key=KEY, organization_id="org", endpoint="http://127.0.0.1:9/")
    assert KEY not in repr(client)
    assert KEY not in repr(client._config)
    assert KEY not in repr(client._transport)
    assert KEY not in repr(vars(client))


@pytest.mark.parametrize("setting", [{"timeout": 0}, {"max_retries": -1}, {"max_connections": 0}])
def test_invalid_settings_are_refused(setting: dict[str, float]) -> None:
    with pytest.raises(ViConfigError):
        Client(secret_key=KEY, organization_id="org", **setting)
