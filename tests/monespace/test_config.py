"""monespace/config.py: defaults, sources in order, and the refusals of production mode."""

from __future__ import annotations

import stat

import pytest

from monespace import config
from monespace.config import ConfigError

GOOD_KEY = "k" * 40
AUDIT_KEY = "a" * 40
PRODUCTION = {
    "MONESPACE_MODE": "production",
    "MONESPACE_DATABASE_URL": "postgresql://monespace@db.internal:5432/monespace",
    "MONESPACE_SECRET_KEY": GOOD_KEY,
    "MONESPACE_AUDIT_KEY": AUDIT_KEY,
    "MONESPACE_BASE_URL": "https://monespace.example.be",
}


def test_demo_defaults_when_nothing_is_configured(tmp_path):
    settings = config.load(environ={})

    assert settings.mode == "demo"
    assert settings.is_demo
    assert settings.simulators is True
    assert settings.data_dir == tmp_path / "instance"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'monespace-demo.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.secure_cookies is False
    assert len(settings.secret_key) >= config.MIN_SECRET_KEY_LENGTH


def test_demo_secret_key_is_generated_once_and_private(tmp_path):
    first = config.load(environ={})
    key_file = tmp_path / "instance" / "secret_key"

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.secret_key
    assert config.load(environ={}).secret_key == first.secret_key
    assert [p.name for p in key_file.parent.iterdir() if p.name.startswith(".")] == []


def test_demo_uses_the_configured_data_dir(tmp_path):
    settings = config.load(environ={"MONESPACE_DATA_DIR": str(tmp_path / "elsewhere")})

    assert settings.database_url.endswith("/elsewhere/monespace-demo.sqlite3")
    assert (tmp_path / "elsewhere" / "secret_key").exists()
    assert not (tmp_path / "instance").exists()


def test_demo_audit_key_is_generated_once_in_the_keys_dir(tmp_path):
    first = config.load(environ={})
    key_file = tmp_path / "instance" / "keys" / "audit_key"

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.audit_keys == (key_file.read_text().strip(),)
    assert len(first.audit_keys[0]) >= config.MIN_SECRET_KEY_LENGTH
    assert first.audit_keys[0] != first.secret_key
    assert config.load(environ={}).audit_keys == first.audit_keys
    elsewhere = config.load(environ={"MONESPACE_KEYS_DIR": str(tmp_path / "keys")})
    assert elsewhere.audit_keys == ((tmp_path / "keys" / "audit_key").read_text().strip(),)


def test_audit_keys_from_files_with_the_retired_ones(tmp_path):
    (tmp_path / "audit_key").write_text(AUDIT_KEY + "\n")
    (tmp_path / "retired").write_text(f"# rotated 2026-12-01\n{'b' * 40}\n\n{'c' * 40}\n")
    environ = {
        **_without("MONESPACE_AUDIT_KEY"),
        "MONESPACE_AUDIT_KEY_FILE": str(tmp_path / "audit_key"),
        "MONESPACE_AUDIT_PREVIOUS_KEYS_FILE": str(tmp_path / "retired"),
    }

    assert config.load(environ=environ).audit_keys == (AUDIT_KEY, "b" * 40, "c" * 40)


def test_a_short_retired_audit_key_is_refused(tmp_path):
    (tmp_path / "retired").write_text("b" * 40 + "\nshort\n")
    environ = {**PRODUCTION, "MONESPACE_AUDIT_PREVIOUS_KEYS_FILE": str(tmp_path / "retired")}

    with pytest.raises(ConfigError, match=r"^audit_key: retired audit key 2 is 5 characters long"):
        config.load(environ=environ)


def test_secret_key_is_not_in_repr():
    settings = config.load(environ={"MONESPACE_SECRET_KEY": GOOD_KEY})

    assert GOOD_KEY not in repr(settings)
    assert not any(key in repr(settings) for key in settings.audit_keys)


def test_production_with_everything_set():
    settings = config.load(environ=PRODUCTION)

    assert settings.mode == "production"
    assert settings.simulators is False
    assert settings.secure_cookies is True
    assert settings.secret_key == GOOD_KEY


def test_environment_overrides_file_which_overrides_defaults(tmp_path):
    file = tmp_path / "monespace.toml"
    file.write_text(
        'base_url = "https://from-file.example.be"\n'
        'database_url = "sqlite:///from-file.sqlite3"\n'
        "simulators = false\n"
    )
    settings = config.load(
        environ={
            "MONESPACE_CONFIG": str(file),
            "MONESPACE_BASE_URL": "https://from-env.example.be/",
        }
    )

    assert settings.base_url == "https://from-env.example.be"
    assert settings.database_url == "sqlite:///from-file.sqlite3"
    assert settings.simulators is False


def test_overrides_win_over_environment():
    settings = config.load(
        {"base_url": "https://override.example.be"},
        environ={"MONESPACE_BASE_URL": "https://env.example.be"},
    )

    assert settings.base_url == "https://override.example.be"


def test_secret_key_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(GOOD_KEY + "\n")
    environ = {k: v for k, v in PRODUCTION.items() if k != "MONESPACE_SECRET_KEY"}

    settings = config.load(environ={**environ, "MONESPACE_SECRET_KEY_FILE": str(key_file)})

    assert settings.secret_key == GOOD_KEY


def _secrets(directory, **files: str) -> dict[str, str]:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return {"MONESPACE_SECRETS_DIR": str(directory)}


def test_settings_from_a_secrets_directory_one_file_each(tmp_path):
    url = "postgresql://monespace:s3cret@db.internal:5432/monespace"
    environ = {k: v for k, v in PRODUCTION.items() if k not in ("MONESPACE_SECRET_KEY",)}
    environ.pop("MONESPACE_DATABASE_URL")
    secrets = _secrets(
        tmp_path / "secrets",
        database_url=url + "\n",
        secret_key=GOOD_KEY + "\n",
        smtp_password="",  # an empty file sets nothing
    )
    # Kubernetes mounts a Secret with hidden links and a hidden directory beside the keys.
    (tmp_path / "secrets" / "..data").mkdir()
    (tmp_path / "secrets" / ".hidden").write_text("not a setting")

    settings = config.load(environ={**environ, **secrets})

    assert settings.database_url == url
    assert settings.secret_key == GOOD_KEY
    assert settings.smtp_password is None


def test_the_environment_wins_over_the_secrets_directory_which_wins_over_the_file(tmp_path):
    file = tmp_path / "monespace.toml"
    file.write_text('base_url = "https://file.example.be"\nmail_from = "File <a@file.be>"\n')
    secrets = _secrets(
        tmp_path / "secrets",
        base_url="https://secret.example.be",
        mail_from="Secret <a@secret.be>",
    )
    environ = {
        **PRODUCTION,
        **secrets,
        "MONESPACE_CONFIG": str(file),
        "MONESPACE_BASE_URL": "https://env.example.be",
    }

    settings = config.load(environ=environ)

    assert settings.base_url == "https://env.example.be"
    assert settings.mail_from == "Secret <a@secret.be>"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"database_pasword": "x"}, "unknown setting 'database_pasword' .in MONESPACE_SECRETS_DIR"),
        ({"secret_key": "short"}, "the secret key is 5 characters long"),
        ({"secret_key": GOOD_KEY}, "set MONESPACE_SECRET_KEY or MONESPACE_SECRET_KEY_FILE, not"),
    ],
)
def test_what_the_secrets_directory_holds_is_checked_like_any_setting(tmp_path, files, message):
    environ = {**_without("MONESPACE_SECRET_KEY"), **_secrets(tmp_path / "secrets", **files)}
    if "not" in message:
        environ["MONESPACE_SECRET_KEY_FILE"] = str(tmp_path / "secrets" / "secret_key")

    with pytest.raises(ConfigError, match=message):
        config.load(environ=environ)


def test_a_secrets_directory_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read MONESPACE_SECRETS_DIR .*/missing"):
        config.load(environ={**PRODUCTION, "MONESPACE_SECRETS_DIR": str(tmp_path / "missing")})


def test_a_secret_that_is_not_text_is_refused(tmp_path):
    secrets = _secrets(tmp_path / "secrets")
    (tmp_path / "secrets" / "smtp_password").write_bytes(b"\xff\xfe")

    with pytest.raises(ConfigError, match=r"cannot read the secret .*smtp_password: not UTF-8"):
        config.load(environ={**PRODUCTION, **secrets})


def test_trusted_proxies_default_to_none_and_are_bounded():
    assert config.load(environ=PRODUCTION).trusted_proxies == 0
    assert (
        config.load(environ={**PRODUCTION, "MONESPACE_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    )
    with pytest.raises(ConfigError, match="MONESPACE_TRUSTED_PROXIES must be at least 0"):
        config.load(environ={**PRODUCTION, "MONESPACE_TRUSTED_PROXIES": "-1"})


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in PRODUCTION.items() if key != name}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (_without("MONESPACE_DATABASE_URL"), "production mode needs MONESPACE_DATABASE_URL"),
        (_without("MONESPACE_SECRET_KEY"), "production mode needs MONESPACE_SECRET_KEY"),
        (
            {**PRODUCTION, "MONESPACE_SECRET_KEY": "short-key"},
            "the secret key is 9 characters long; it needs at least 32",
        ),
        (
            {**PRODUCTION, "MONESPACE_SIMULATORS": "true"},
            "the login simulators cannot be enabled in production mode",
        ),
        (_without("MONESPACE_BASE_URL"), "production mode needs MONESPACE_BASE_URL"),
        (
            {**PRODUCTION, "MONESPACE_BASE_URL": "http://monespace.example.be"},
            "MONESPACE_BASE_URL must use https in production mode",
        ),
        (
            _without("MONESPACE_AUDIT_KEY"),
            "^audit_key: production mode needs MONESPACE_AUDIT_KEY_FILE or MONESPACE_AUDIT_KEY",
        ),
        (
            {**PRODUCTION, "MONESPACE_AUDIT_KEY": "short-key"},
            "^audit_key: the audit key is 9 characters long; it needs at least 32",
        ),
        (
            {**PRODUCTION, "MONESPACE_AUDIT_KEY": GOOD_KEY},
            "^audit_key: the audit key must differ from the secret key",
        ),
    ],
    ids=[
        "no-database",
        "no-secret",
        "short-secret",
        "simulators",
        "no-base-url",
        "http",
        "no-audit-key",
        "short-audit-key",
        "audit-key-is-secret-key",
    ],
)
def test_production_refuses_unsafe_settings(environ, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        config.load(environ=environ)
    # Nothing was written on the way to the refusal.
    assert not (tmp_path / "instance").exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MONESPACE_MODE": "staging"}, "MONESPACE_MODE must be one of demo, production"),
        ({"MONESPACE_SIMULATORS": "maybe"}, "MONESPACE_SIMULATORS must be true or false"),
        ({"MONESPACE_DATABASE_URL": "mysql://x/y"}, "is not supported: use sqlite"),
        ({"MONESPACE_BASE_URL": "monespace.example.be"}, "must be an absolute http"),
        ({"MONESPACE_CONFIG": "/nonexistent/monespace.toml"}, "which does not exist"),
        (
            {"MONESPACE_SECRET_KEY": GOOD_KEY, "MONESPACE_SECRET_KEY_FILE": "/x"},
            "not both",
        ),
        ({"MONESPACE_SECRET_KEY_FILE": "/nonexistent/key"}, "cannot read"),
        (
            {"MONESPACE_AUDIT_KEY": AUDIT_KEY, "MONESPACE_AUDIT_KEY_FILE": "/x"},
            "^audit_key: set MONESPACE_AUDIT_KEY or MONESPACE_AUDIT_KEY_FILE, not both",
        ),
        ({"MONESPACE_AUDIT_KEY_FILE": "/nonexistent/key"}, "cannot read MONESPACE_AUDIT_KEY_FILE"),
        (
            {"MONESPACE_AUDIT_PREVIOUS_KEYS_FILE": "/nonexistent/keys"},
            "cannot read MONESPACE_AUDIT_PREVIOUS_KEYS_FILE",
        ),
    ],
)
def test_bad_values_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        config.load(environ=environ)


def test_bad_file_is_refused(tmp_path):
    file = tmp_path / "monespace.toml"
    file.write_text("mode = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config.load(environ={"MONESPACE_CONFIG": str(file)})

    file.write_text('secret = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'secret'"):
        config.load(environ={"MONESPACE_CONFIG": str(file)})


def test_database_password_is_redacted():
    assert (
        config.redact_url("postgresql://app:s3cret@db:5432/monespace")
        == "postgresql://app:***@db:5432/monespace"
    )
    assert config.redact_url("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"


def test_a_keys_dir_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")

    with pytest.raises(ConfigError, match=r"cannot create the keys directory .*MONESPACE_KEYS_DIR"):
        config.load(environ={"MONESPACE_KEYS_DIR": str(tmp_path / "a-file" / "keys")})


# -- the upstream logins' settings, checked by their plugins ---------------------------------

EID = {
    "MONESPACE_SIMULATORS": "false",
    "MONESPACE_EID_IDP_METADATA": "/etc/monespace/fas.xml",
    "MONESPACE_EID_KEY_FILE": "/etc/monespace/sp.key",
    "MONESPACE_EID_CERT_FILE": "/etc/monespace/sp.crt",
}
ITSME = {
    "MONESPACE_ITSME_ISSUER": "https://idp.prd.itsme.services/v2",
    "MONESPACE_ITSME_CLIENT_ID": "monespace",
    "MONESPACE_ITSME_SERVICE_CODE": "MONESPACE",
    "MONESPACE_ITSME_SIGNING_KEY_FILE": "/etc/monespace/itsme-sig.key",
    "MONESPACE_ITSME_ENCRYPTION_KEY_FILE": "/etc/monespace/itsme-enc.key",
}


def test_upstream_logins_are_on_when_their_switch_is_set():
    assert config.load(environ={"MONESPACE_SIMULATORS": "false"}).upstreams == {}

    settings = config.load(environ={**PRODUCTION, **EID, **ITSME, "MONESPACE_EID_CLOCK_SKEW": "30"})

    assert list(settings.upstreams) == ["eid", "itsme"]
    assert settings.upstreams["eid"].clock_skew == 30
    assert settings.upstreams["eid"].idp_entity_id is None
    assert settings.upstreams["itsme"].acr == "advanced"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {**EID, "MONESPACE_EID_KEY_FILE": ""},
            "^MONESPACE_EID_IDP_METADATA is set: MONESPACE_EID_KEY_FILE is needed too$",
        ),
        (
            {"MONESPACE_SIMULATORS": "false", "MONESPACE_ITSME_CLIENT_ID": "x"},
            "^MONESPACE_ITSME_CLIENT_ID is set but MONESPACE_ITSME_ISSUER is not$",
        ),
        (
            {**EID, "MONESPACE_EID_CLOCK_SKEW": "301"},
            "^MONESPACE_EID_CLOCK_SKEW must be at most 300, not '301'$",
        ),
        (
            {**PRODUCTION, **EID, "MONESPACE_EID_IDP_METADATA": "http://fas.example.be/md"},
            "^MONESPACE_EID_IDP_METADATA must be a file or an https URL$",
        ),
        (
            {**ITSME, "MONESPACE_SIMULATORS": "false", "MONESPACE_ITSME_ACR": "high"},
            "^MONESPACE_ITSME_ACR must be one of basic, advanced, not 'high'$",
        ),
        (
            {**PRODUCTION, **ITSME, "MONESPACE_ITSME_ISSUER": "http://itsme.example.be"},
            "^MONESPACE_ITSME_ISSUER must be an https URL in production mode$",
        ),
        ({**EID, "MONESPACE_SIMULATORS": "true"}, "^the login simulators stand in for eID"),
    ],
    ids=["missing", "no-switch", "range", "http-metadata", "acr", "http-issuer", "simulators"],
)
def test_bad_upstream_settings_stop_the_start_with_one_line(environ, message):
    with pytest.raises(ConfigError, match=message):
        config.load(environ=environ)


def test_json_is_the_default_in_production_and_text_in_the_demo(tmp_path):
    demo = config.load({"data_dir": str(tmp_path)}, environ={})
    assert demo.log_format == "text"
    production = config.load(
        {
            "mode": "production",
            "database_url": "postgresql://u@db/x",
            "secret_key": "s" * 40,
            "audit_key": "a" * 40,
            "base_url": "https://example.be",
        },
        environ={},
    )
    assert production.log_format == "json"
    assert config.load({"data_dir": str(tmp_path), "log_format": "JSON"}, environ={}).log_format
    with pytest.raises(config.ConfigError, match="MONESPACE_LOG_FORMAT"):
        config.load({"data_dir": str(tmp_path), "log_format": "xml"}, environ={})


def test_metrics_token_settings(tmp_path):
    base = {"data_dir": str(tmp_path)}
    assert config.load(base, environ={}).metrics_token is None
    token_file = tmp_path / "metrics-token"
    token_file.write_text("t" * 32 + "\n")
    loaded = config.load({**base, "metrics_token_file": str(token_file)}, environ={})
    assert loaded.metrics_token == "t" * 32
    assert "t" * 32 not in repr(loaded)
    with pytest.raises(config.ConfigError, match="at least 16"):
        config.load({**base, "metrics_token": "short"}, environ={})
    with pytest.raises(config.ConfigError, match="not both"):
        config.load(
            {**base, "metrics_token": "t" * 32, "metrics_token_file": str(token_file)}, environ={}
        )
    with pytest.raises(config.ConfigError, match="MONESPACE_METRICS_TOKEN is not"):
        config.load({**base, "worker_metrics_port": 9100}, environ={})
    worker = config.load(
        {**base, "worker_metrics_port": 9100, "metrics_token": "t" * 32}, environ={}
    )
    assert (worker.worker_metrics_host, worker.worker_metrics_port) == ("127.0.0.1", 9100)


def test_production_refuses_per_process_counters_in_several_workers():
    counted_apart = config.load(environ=PRODUCTION)
    assert config.counts_per_process(counted_apart)
    with pytest.raises(ConfigError) as caught:
        config.check_workers(counted_apart, 2)
    message = str(caught.value)
    assert message.startswith("rate_limit_storage: memory://")
    assert "2 workers" in message and "MONESPACE_RATE_LIMIT_STORAGE" in message
    config.check_workers(counted_apart, 1)  # one process: its counters are all there are


def test_shared_counters_and_the_demo_run_any_number_of_workers():
    shared = config.load(
        environ={
            **PRODUCTION,
            "MONESPACE_RATE_LIMIT_STORAGE": "redis://cache.internal:6379/3",
            "MONESPACE_RATE_LIMIT_KEY_PREFIX": "monespace-eu",
        }
    )
    assert not config.counts_per_process(shared)
    assert shared.rate_limit_key_prefix == "monespace-eu"
    config.check_workers(shared, 8)
    demo = config.load(environ={})
    assert demo.rate_limit_key_prefix == "monespace-limits"
    config.check_workers(demo, 8)


def test_an_empty_key_prefix_is_refused():
    with pytest.raises(ConfigError, match="MONESPACE_RATE_LIMIT_KEY_PREFIX"):
        config.load({"rate_limit_key_prefix": ""}, environ={})


# -- the secret keys a new one replaced ----------------------------------------------------------

OLD_KEY, OLDER_KEY = "o" * 40, "p" * 40


def test_no_previous_secret_keys_by_default():
    assert config.load(environ=PRODUCTION).previous_secret_keys == ()


def test_previous_secret_keys_from_the_variable_separated_by_commas_or_lines():
    environ = {**PRODUCTION, "MONESPACE_PREVIOUS_SECRET_KEYS": f" {OLD_KEY} ,\n{OLDER_KEY}\n"}

    assert config.load(environ=environ).previous_secret_keys == (OLD_KEY, OLDER_KEY)


def test_previous_secret_keys_from_a_file_one_a_line(tmp_path):
    keys_file = tmp_path / "previous"
    keys_file.write_text(f"# replaced in March\n{OLD_KEY}\n\n{OLDER_KEY}\n", encoding="utf-8")
    environ = {**PRODUCTION, "MONESPACE_PREVIOUS_SECRET_KEYS_FILE": str(keys_file)}

    settings = config.load(environ=environ)

    assert settings.previous_secret_keys == (OLD_KEY, OLDER_KEY)
    assert OLD_KEY not in repr(settings)


def test_previous_secret_keys_from_the_secrets_directory(tmp_path):
    (tmp_path / "previous_secret_keys").write_text(f"{OLD_KEY}\n{OLDER_KEY}\n", encoding="utf-8")
    environ = {**PRODUCTION, "MONESPACE_SECRETS_DIR": str(tmp_path)}

    assert config.load(environ=environ).previous_secret_keys == (OLD_KEY, OLDER_KEY)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"MONESPACE_PREVIOUS_SECRET_KEYS": "short"},
            "previous_secret_keys: previous secret key 1 is 5 characters long; a secret key "
            "has at least 32",
        ),
        (
            {"MONESPACE_PREVIOUS_SECRET_KEYS": f"{OLD_KEY},{GOOD_KEY}"},
            "previous_secret_keys: previous secret key 2 is the secret key itself; list there "
            "only the keys it replaced",
        ),
        (
            {
                "MONESPACE_PREVIOUS_SECRET_KEYS": OLD_KEY,
                "MONESPACE_PREVIOUS_SECRET_KEYS_FILE": "/nonexistent",
            },
            "set MONESPACE_PREVIOUS_SECRET_KEYS or MONESPACE_PREVIOUS_SECRET_KEYS_FILE, not both",
        ),
        (
            {"MONESPACE_PREVIOUS_SECRET_KEYS_FILE": "/nonexistent/previous"},
            "cannot read MONESPACE_PREVIOUS_SECRET_KEYS_FILE /nonexistent/previous",
        ),
    ],
)
def test_previous_secret_keys_that_cannot_be_right_are_refused(settings, message):
    with pytest.raises(ConfigError) as refused:
        config.load(environ={**PRODUCTION, **settings})

    assert str(refused.value).startswith(message)
