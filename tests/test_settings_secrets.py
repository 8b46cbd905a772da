"""Secret settings (remedy/settings.py): a placeholder or a token shorter than 32
characters is refused at start with the variable named; a random one is accepted; each
may come from a file (NAME_FILE, compose secrets); unset or empty stays allowed."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from remedy.codec import new_key_spec
from remedy.settings import SecretSettingError, Settings

TOKENS = {  # every secret setting, by environment variable (but the URL and the keys)
    "REMEDY_BRIDGE_TOKEN": "bridge_token",
    "REMEDY_CODEC_SERVER_TOKEN": "codec_server_token",
    "REMEDY_PAGERDUTY_ROUTING_KEY": "pagerduty_routing_key",
    "REMEDY_PAGERDUTY_WEBHOOK_SECRET": "pagerduty_webhook_secret",
    "REMEDY_SLACK_SIGNING_SECRET": "slack_signing_secret",
    "TEMPORAL_API_KEY": "temporal_api_key",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    for var in Settings.secret_variables().values():
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(f"{var}_FILE", raising=False)


def test_every_secret_setting_is_covered() -> None:
    assert set(Settings.secret_variables().values()) >= {
        *TOKENS,
        "REMEDY_CODEC_KEYS",
        "REMEDY_SLACK_WEBHOOK_URL",
    }


@pytest.mark.parametrize("var", sorted(TOKENS))
@pytest.mark.parametrize(
    "value", ["change-me", "change-me-long-random", "change-me-too", "CHANGEME" + "x" * 40]
)
def test_placeholders_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SecretSettingError, match=rf"^{var}: looks like a placeholder") as e:
        Settings()
    assert "openssl rand -hex 32" in str(e.value)


@pytest.mark.parametrize("var", sorted(TOKENS))
def test_short_tokens_are_refused(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "s3cret-but-only-31-characters-x")
    with pytest.raises(SecretSettingError, match=rf"^{var}: only 31 characters") as e:
        Settings()
    assert "s3cret" not in str(e.value)  # the message never repeats a real value


def test_the_codec_key_and_slack_url_are_checked_for_placeholders() -> None:
    with pytest.raises(SecretSettingError, match="^REMEDY_CODEC_KEYS: looks like a placeholder"):
        Settings(codec_keys=SecretStr("k1:<base64 32 bytes>"))
    with pytest.raises(SecretSettingError, match="^REMEDY_SLACK_WEBHOOK_URL: looks like"):
        Settings(slack_webhook_url=SecretStr("https://hooks.slack.com/services/CHANGE-ME"))
    # Their own formats: a short local URL and a valid key spec are fine.
    Settings(slack_webhook_url=SecretStr("http://127.0.0.1:9/slack"))
    Settings(codec_keys=SecretStr(new_key_spec("k1")))


@pytest.mark.parametrize("var", sorted(TOKENS))
def test_random_tokens_are_accepted(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    token = secrets.token_hex(16)  # 32 characters, the minimum
    monkeypatch.setenv(var, token)
    got = getattr(Settings(), TOKENS[var])
    assert got.get_secret_value() == token


def test_kwargs_are_checked_like_the_environment() -> None:
    with pytest.raises(SecretSettingError, match="^REMEDY_BRIDGE_TOKEN: only 5"):
        Settings(bridge_token=SecretStr("short"))
    assert Settings(bridge_token=SecretStr("t" * 8 + secrets.token_urlsafe(24))).bridge_token


def test_unset_and_empty_stay_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in Settings.secret_variables().values():
        monkeypatch.setenv(var, "")
    s = Settings()
    assert all(getattr(s, name) is None for name in Settings.secret_variables())


@pytest.mark.parametrize("var", sorted(TOKENS))
def test_file_variants_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, var: str) -> None:
    token = secrets.token_urlsafe(32)
    f = tmp_path / "secret"
    f.write_text(token + "\n")  # files end with a newline: it is not part of the secret
    monkeypatch.setenv(f"{var}_FILE", str(f))
    assert getattr(Settings(), TOKENS[var]).get_secret_value() == token


def test_file_values_are_checked_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("change-me-long-random\n")
    monkeypatch.setenv("REMEDY_BRIDGE_TOKEN_FILE", str(f))
    with pytest.raises(SecretSettingError, match="^REMEDY_BRIDGE_TOKEN: looks like a placeholder"):
        Settings()


def test_file_edge_cases(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("REMEDY_PAGERDUTY_ROUTING_KEY_FILE", str(empty))
    assert Settings().pagerduty_routing_key is None  # an empty file is "not configured"
    monkeypatch.setenv("REMEDY_CODEC_SERVER_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SecretSettingError, match="^REMEDY_CODEC_SERVER_TOKEN_FILE=.*missing"):
        Settings()
    monkeypatch.delenv("REMEDY_CODEC_SERVER_TOKEN_FILE")
    f = tmp_path / "token"
    f.write_text(secrets.token_hex(32))
    monkeypatch.setenv("REMEDY_BRIDGE_TOKEN_FILE", str(f))
    monkeypatch.setenv("REMEDY_BRIDGE_TOKEN", secrets.token_hex(32))
    with pytest.raises(
        SecretSettingError, match="REMEDY_BRIDGE_TOKEN and REMEDY_BRIDGE_TOKEN_FILE"
    ):
        Settings()


def test_a_file_named_in_dotenv_is_read(tmp_path: Path) -> None:
    token = secrets.token_hex(32)
    (tmp_path / "bridge_token").write_text(token)
    (tmp_path / ".env").write_text(f"REMEDY_BRIDGE_TOKEN_FILE={tmp_path / 'bridge_token'}\n")
    assert Settings().bridge_token.get_secret_value() == token  # type: ignore[union-attr]


def test_the_shipped_env_example_holds_no_secret_and_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (Path(__file__).parents[1] / ".env.example").read_text()
    (tmp_path / ".env").write_text(example)
    Settings()  # nothing in it is refused: it has no token to refuse
    assert "change-me" not in example.lower()
