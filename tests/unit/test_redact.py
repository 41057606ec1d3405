"""Tests of gatebook.capture.redact: which command-line values are secrets, and reruns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.capture import provenance
from gatebook.capture.redact import (
    REDACTED,
    fill_secrets,
    is_secret_flag,
    redact_argv,
    redact_env,
    redact_params,
    secret_names,
    text_redactor,
)
from gatebook.errors import UsageError

SECRET_NAMES = [
    "--hf-token", "--token", "--password", "--passwd", "--pwd", "--db-password", "--secret", "--client-secret",
    "--api-key", "--apikey", "--apiKey", "--openai-api-key", "--key", "--wandb-key", "--aws-secret-access-key",
    "--private-key", "--credentials", "--creds", "--auth", "--auth-token", "--use-auth-token", "--hub_token",
    "--session-token", "--cookie", "--dsn", "--passphrase", "db.password", "HF_TOKEN", "hfToken", "--bot-token",
]
NOT_SECRET_NAMES = [
    "--tokenizer", "--max-tokens", "--max_new_tokens", "--max-token", "--key-size", "--keys", "--sort-key",
    "--text-key", "--monitor-key", "--pad-token", "--eos-token", "--token-limit", "--auth-type", "--no-auth-check",
    "--password-file", "--token-path", "--secret-name", "--private-key-path", "--keyword", "--monkey", "--lr",
    "--pass", "--session", "--secrets-dir", "-p", "",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_flag(name)


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_false_positives_are_not_secret(name: str) -> None:
    assert not is_secret_flag(name)


def test_the_reported_command_line() -> None:
    argv = ["python", "t.py", "--hf-token", "hf_abcSECRET", "--password=pw_SECRET2", "--db",
            "postgresql://u:PGSECRET3@h/db", "--lr", "1e-3"]
    safe = redact_argv(argv)
    assert safe.argv == ["python", "t.py", "--hf-token", REDACTED, "--password=***", "--db", "postgresql://u:***@h/db",
                         "--lr", "1e-3"]
    assert safe.secrets == {"hf_abcSECRET", "pw_SECRET2", "PGSECRET3"}
    assert argv[3] == "hf_abcSECRET"  # the input is not changed


@pytest.mark.parametrize(("argv", "expected"), [
    (["p", "db.password=x1", "+api.key=k", "++auth_token=t", "HF_TOKEN=abc"],
     ["p", "db.password=***", "+api.key=***", "++auth_token=***", "HF_TOKEN=***"]),
    (["p", "-p", "pw", "-k", "key"], ["p", "-p", "pw", "-k", "key"]),  # short flags: never secret
    (["p", "-token", "gostyle"], ["p", "-token", REDACTED]),  # single-dash long names count
    (["p", "--use-auth-token", "true", "--token", "--lr", "1"],  # a bool word, a bare flag: no value
     ["p", "--use-auth-token", "true", "--token", "--lr", "1"]),
    (["p", "--password="], ["p", "--password="]),
    (["p", "--tokenizer", "gpt2", "--max-tokens", "100", "--key-size", "3"],
     ["p", "--tokenizer", "gpt2", "--max-tokens", "100", "--key-size", "3"]),
    (["p", "--url", "https://h/x?token=QTOK&page=2&api_key=K9"],
     ["p", "--url", "https://h/x?token=***&page=2&api_key=***"]),
    (["p", "--store=postgresql://u:pw@h/db"], ["p", "--store=postgresql://u:***@h/db"]),
    (["bash", "-c", "python t.py --api-key 'K S' --hf-token=abc --lr 2"],
     ["bash", "-c", "python t.py --api-key '***' --hf-token=*** --lr 2"]),
    (["ssh", "h", "bash -c 'python t.py --token T0K3N'"], ["ssh", "h", "bash -c 'python t.py --token ***'"]),
    (["bash", "-c", "python t.py --api-key 'KEY1' --lr 2"], ["bash", "-c", "python t.py --api-key '***' --lr 2"]),
    (["p", "--", "--token", "after-dashes"], ["p", "--", "--token", REDACTED]),
    (["p", "--token", "-1"], ["p", "--token", REDACTED]),
])
def test_redact_argv_cases(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(argv).argv == expected


@given(st.lists(st.text(max_size=20), max_size=8))
def test_redact_argv_never_raises_and_is_idempotent(argv: list[str]) -> None:
    once = redact_argv(argv).argv
    assert len(once) == len(argv)
    assert redact_argv(once).argv == once
    assert redact_argv(once).secrets == frozenset()


def test_text_redactor_replaces_secret_values_and_url_passwords() -> None:
    redact = text_redactor({"hf_abcSECRET", "pw_SECRET2", "ab"})
    line = "args: --hf-token hf_abcSECRET --password=pw_SECRET2 ab mysql://u:p4ss@h/x\n"
    assert redact(line) == "args: --hf-token *** --password=*** ab mysql://u:***@h/x\n"  # "ab": too short
    assert text_redactor()("nothing here") == "nothing here"


def test_env_values_holding_command_line_secrets_are_masked() -> None:
    env = {"MY_HF": "hf_abcSECRET", "HF_TOKEN": "x", "HOME": "/home/u"}
    assert redact_env(env, {"hf_abcSECRET"}) == {"HF_TOKEN": REDACTED, "HOME": "/home/u", "MY_HF": REDACTED}
    assert provenance.redact_env is redact_env  # the old import path still works


def test_redact_params_of_the_api() -> None:
    params = {"hf_token": "hf_x", "wandb.api_key": "k", "tokenizer": "gpt2", "use_auth_token": True,
              "db.url": "postgresql://u:p@h/db", "password": None, "lr": 0.1}
    assert redact_params(params) == {"hf_token": REDACTED, "wandb.api_key": REDACTED, "tokenizer": "gpt2",
                                     "use_auth_token": True, "db.url": "postgresql://u:***@h/db", "password": None,
                                     "lr": 0.1}


STORED = ["python", "t.py", "--hf-token", REDACTED, "--password=***", "--db", "postgresql://u:***@h/db",
          "wandb.api_key=***", "bash -c 'x --api-key ***'", "postgresql://v:***@h2/db", "--lr", "1"]


def test_secret_names_of_a_stored_command() -> None:
    assert secret_names(STORED) == ["HF_TOKEN", "PASSWORD", "DB_PASSWORD", "WANDB_API_KEY", "API_KEY", "URL_PASSWORD"]
    assert secret_names(["python", "t.py", "--lr", "1"]) == []


def test_fill_secrets_from_gatebook_secret_then_the_plain_name() -> None:
    env = {"GATEBOOK_SECRET_HF_TOKEN": "hf_real", "HF_TOKEN": "ignored", "PASSWORD": "pw", "DB_PASSWORD": "dbpw",
           "GATEBOOK_SECRET_WANDB_API_KEY": "wk", "API_KEY": "ak", "URL_PASSWORD": "up"}
    assert fill_secrets(STORED, env, what="x") == [
        "python", "t.py", "--hf-token", "hf_real", "--password=pw", "--db", "postgresql://u:dbpw@h/db",
        "wandb.api_key=wk", "bash -c 'x --api-key ak'", "postgresql://v:up@h2/db", "--lr", "1"]
    assert fill_secrets(["python", "t.py"], {}, what="x") == ["python", "t.py"]


def test_fill_secrets_names_every_missing_variable() -> None:
    with pytest.raises(UsageError) as err:
        fill_secrets(STORED, {"PASSWORD": "pw", "HF_TOKEN": ""}, what="the command of run r1")
    text = str(err.value)
    assert text.startswith("the command of run r1 was recorded with secret values redacted (***)")
    assert "GATEBOOK_SECRET_HF_TOKEN (or HF_TOKEN)" in text and "GATEBOOK_SECRET_URL_PASSWORD" in text
    assert "GATEBOOK_SECRET_PASSWORD" not in text and "\n" not in text


def test_pwd_is_never_taken_from_the_shells_variable() -> None:
    with pytest.raises(UsageError, match="GATEBOOK_SECRET_PWD to run it again"):
        fill_secrets(["p", "--pwd", REDACTED], {"PWD": "/home/u"}, what="x")


@given(st.text(alphabet="ab1:/@.-+ ?#x", max_size=40))
def test_url_passwords_are_found_as_the_regex_finds_them(text: str) -> None:
    from gatebook.capture.redact import _URL_PASSWORD, redact_url

    assert redact_url(text) == _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{REDACTED}@", text)


def test_redacting_output_takes_linear_time() -> None:
    import time

    redact = text_redactor({"hf_abcSECRET"})
    start = time.perf_counter()
    assert redact("a" * 65536 + "://u:p@h") == "a" * 65536 + "://u:***@h"  # a regex alone: ~10 s
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("argv", "expected"), [
    (["p", "--password=my pass phrase"], ["p", "--password=***"]),
    (["p", "--password", "my pass phrase"], ["p", "--password", REDACTED]),
    (["accelerate", "--cmd=python t.py --token T0K3N"], ["accelerate", "--cmd=python t.py --token ***"]),
    (["env", "X=1 python t.py --api-key=K3Y"], ["env", "X=1 python t.py --api-key=***"]),
])
def test_values_holding_spaces(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(argv).argv == expected


@given(st.lists(st.text(alphabet="ab -=_.'\"\\:/@?&tokenpasswordTK", max_size=30), max_size=6))
def test_filled_then_redacted_again_is_the_stored_command(argv: list[str]) -> None:
    stored = redact_argv(argv).argv
    env = {f"GATEBOOK_SECRET_{name}": "Zq9" for name in secret_names(stored)}
    assert redact_argv(fill_secrets(stored, env, what="x")).argv == stored
