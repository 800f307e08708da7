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
    # The message names the real prefix, not a masked one ("start with 'dtvi_***'").
    assert "start with 'dtvi_' " in str(info.value)


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


CONTROLS = ["\r\n", "\n", "\r", "\t", "\x00", "\x7f", "\x85", "\u2028"]
SETTINGS = {
    "secret_key": ("DATATURE_VI_SECRET_KEY", lambda c: KEY[:50] + c + KEY[50 + len(c) :]),
    "organization_id": ("DATATURE_VI_ORGANIZATION_ID", lambda c: f"org{c}X-Evil: 1"),
    "endpoint": ("DATATURE_VI_API_ENDPOINT", lambda c: f"http://127.0.0.1:9/{c}X-Evil: 1"),
}
GOOD = {"secret_key": KEY, "organization_id": "org", "endpoint": "http://127.0.0.1:9/"}


@pytest.mark.parametrize("control", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_control_characters_are_refused_at_construction(name: str, control: str) -> None:
    """CR/LF (or any control character) in a credential: ViConfigError naming the
    argument, before any request, and never showing the value."""
    _, bad = SETTINGS[name]
    value = bad(control)
    with pytest.raises(ViConfigError) as info:
        Client(**{**GOOD, name: value})
    text = f"{info.value!s} {info.value!r}"
    assert name in text and "control character" in text
    assert value not in text and control not in str(info.value)
    if name == "secret_key":
        assert KEY[:40] not in text


@pytest.mark.parametrize("name", list(SETTINGS))
def test_control_characters_from_the_environment_name_the_variable(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, bad = SETTINGS[name]
    for other, (other_env, _) in SETTINGS.items():
        monkeypatch.setenv(other_env, GOOD[other])
    monkeypatch.setenv(env, bad("\r\n"))
    with pytest.raises(ViConfigError, match=env) as info:
        Client()
    assert bad("\r\n") not in str(info.value)
