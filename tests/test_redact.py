"""Secrets are hidden in command lines, environments and free text."""

from __future__ import annotations

import pytest

from raytop.redact import MASK, is_secret_name, redact_argv, redact_env, redact_text


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch, tmp_path):
    """Isolate from the machine's real ~/.ray/auth_token."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)


@pytest.mark.parametrize("argv, expected", [
    (["job.py", "--token", "abc", "--n", "5"], ["job.py", "--token", MASK, "--n", "5"]),
    (["job.py", "--password=pw", "--api-key", "k"], ["job.py", f"--password={MASK}", "--api-key", MASK]),
    (["job.py", "--client-secret=x", "--db-passwd", "y"], ["job.py", f"--client-secret={MASK}", "--db-passwd", MASK]),
    (["env", "HF_TOKEN=hf_abc", "MY_KEY=1", "python", "x.py"], ["env", f"HF_TOKEN={MASK}", f"MY_KEY={MASK}", "python", "x.py"]),
    (["x.py", "--url", "https://bob:pw123@host/p"], ["x.py", "--url", f"https://bob:{MASK}@host/p"]),
    (["x.py", "--max-tokens", "100", "--batch-size=64", "--keyboard", "us"],
     ["x.py", "--max-tokens", "100", "--batch-size=64", "--keyboard", "us"]),
    (["x.py", "--token"], ["x.py", "--token"]),  # nothing follows: nothing to hide
])
def test_redact_argv(argv, expected):
    assert redact_argv(argv) == expected


def test_redact_argv_does_not_modify_its_input():
    argv = ["a", "--token", "t"]
    redact_argv(argv)
    assert argv == ["a", "--token", "t"]


def test_redact_env():
    env = {"RAY_AUTH_TOKEN": "t1", "AWS_SECRET_ACCESS_KEY": "t2", "OPENAI_API_KEY": "t3",
           "DB_PASSWORD": "t4", "GITHUB_TOKEN": "t5", "PATH": "/bin", "PWD": "/home/me",
           "HOME": "/home/me", "DATABASE_URL": "mysql://u:p4ss@h/db", "KEYBOARD": "us"}
    out = redact_env(env)
    for k in ("RAY_AUTH_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "DB_PASSWORD", "GITHUB_TOKEN"):
        assert out[k] == MASK
    assert out["PATH"] == "/bin" and out["PWD"] == "/home/me" and out["KEYBOARD"] == "us"
    assert out["DATABASE_URL"] == f"mysql://u:{MASK}@h/db"
    assert env["RAY_AUTH_TOKEN"] == "t1"  # a copy


@pytest.mark.parametrize("name, secret", [
    ("--token", True), ("AUTH_TOKEN", True), ("api_key", True), ("--secret", True),
    ("MY_PASSWORD_FILE", True), ("--auth", True), ("CREDENTIALS", True),
    ("--tokens-per-batch", False), ("--monkey", False), ("PATH", False), ("PWD", False),
])
def test_is_secret_name(name, secret):
    assert is_secret_name(name) is secret


def test_redact_text_removes_the_ray_token_from_env(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0123456789abcdef")
    assert redact_text("Authorization: Bearer 0123456789abcdef!") == f"Authorization: Bearer {MASK}!"


def test_redact_text_removes_the_ray_token_from_files(monkeypatch, tmp_path):
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("home-token-xyz-123\n")
    custom = tmp_path / "custom_token"
    custom.write_text("custom-token-abc-987")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(custom))
    text = "a home-token-xyz-123 b custom-token-abc-987 c"
    assert redact_text(text) == f"a {MASK} b {MASK} c"


def test_redact_text_without_token_changes_only_url_passwords():
    assert redact_text("plain text, no secrets") == "plain text, no secrets"
    assert redact_text("see redis://:pw@h:6379") == f"see redis://:{MASK}@h:6379"
    assert redact_text("") == ""
