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
    (["job.py", "--client-secret=x", "--db-passwd", "y"],
     ["job.py", f"--client-secret={MASK}", "--db-passwd", MASK]),
    (["env", "HF_TOKEN=hf_abc", "MY_KEY=1", "python", "x.py"],
     ["env", f"HF_TOKEN={MASK}", f"MY_KEY={MASK}", "python", "x.py"]),
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
    assert redact_text("sent 0123456789abcdef!") == f"sent {MASK}!"


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


# ---- widened redaction (security audit, issue 14) ---------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["docker", "run", "--env=AWS_SECRET_ACCESS_KEY=wJalr/XUtn"],
     ["docker", "run", f"--env=AWS_SECRET_ACCESS_KEY={MASK}"]),
    (["x.py", "--env", "HF_TOKEN=hf_abc"], ["x.py", "--env", f"HF_TOKEN={MASK}"]),
    (["curl", "-H", "Authorization: Bearer eyJhbGciOi.payload.sig", "https://h/api"],
     ["curl", "-H", f"Authorization: {MASK}", "https://h/api"]),
    (["curl", "--cookie", "session=abc123", "x"], ["curl", "--cookie", MASK, "x"]),
    (["curl", "--cookie=session=abc123"], ["curl", f"--cookie={MASK}"]),
    (["x.py", "--pass", "hunter2"], ["x.py", "--pass", MASK]),
    (["x.py", "--db-pass=hunter2"], ["x.py", f"--db-pass={MASK}"]),
    (["x.py", '{"api_key": "sk-live-123", "n": 3}'], ["x.py", f'{{"api_key": "{MASK}", "n": 3}}']),
    (["x.py", "--url", "https://bob:p/ss@w0rd@host/simple"],
     ["x.py", "--url", f"https://bob:{MASK}@host/simple"]),
    (["x.py", "s3://b/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=abcdef0123&X-Amz-Expires=60"],
     ["x.py", f"s3://b/k?X-Amz-Credential={MASK}&X-Amz-Signature={MASK}&X-Amz-Expires=60"]),
    (["x.py", "https://h/file?token=s3cr3t&page=2"], ["x.py", f"https://h/file?token={MASK}&page=2"]),
    (["x.py", "--batch-size=64", "--max-tokens", "100", "--keyboard=us"],
     ["x.py", "--batch-size=64", "--max-tokens", "100", "--keyboard=us"]),
])
def test_redact_argv_widened(argv, expected):
    assert redact_argv(argv) == expected


@pytest.mark.parametrize("text, expected", [
    ("401: Authorization: Bearer abc.def.ghi", f"401: Authorization: {MASK}"),
    ("proxy-authorization: Basic dXNlcjpwYXNz", f"proxy-authorization: {MASK}"),
    ("sent bearer eyJhbGciOiJIUzI1NiJ9.e30.sig to h", f"sent bearer {MASK} to h"),
    ("Cookie: a=1; b=2", f"Cookie: {MASK}"),
    ('config {"api_key": "sk-123", "password": "p w"}',
     f'config {{"api_key": "{MASK}", "password": "{MASK}"}}'),
    ("runtime_env={'env_vars': {'AWS_SECRET_ACCESS_KEY': 'abc', 'HF_TOKEN': 'hf_x'}}",
     f"runtime_env={{'env_vars': {{'AWS_SECRET_ACCESS_KEY': '{MASK}', 'HF_TOKEN': '{MASK}'}}}}"),
    ("failed with DB_PASSWORD=hunter2 set", f"failed with DB_PASSWORD={MASK} set"),
    ("pip --index-url https://u:p@ss/w@rd@pypi.example/simple x",
     f"pip --index-url https://u:{MASK}@pypi.example/simple x"),
    ("git+https://user:tok@github.com/o/r@v1.0", f"git+https://user:{MASK}@github.com/o/r@v1.0"),
    ("see https://h/x?sig=abc&se=2030 and ?access_token=zzz",
     f"see https://h/x?sig={MASK}&se=2030 and ?access_token={MASK}"),
    ("ValueError: planted failure in batch 3", "ValueError: planted failure in batch 3"),
    ("rows 1000, batch_size=64, url http://host:8265/api", "rows 1000, batch_size=64, url http://host:8265/api"),
])
def test_redact_text_widened(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("name, secret", [
    ("--cookie", True), ("--pass", True), ("DB_PASS", True), ("Authorization", True),
    ("X-Amz-Signature", True), ("sig", True), ("--bypass", False), ("--passes", False),
])
def test_is_secret_name_widened(name, secret):
    assert is_secret_name(name) is secret


ADVERSARIAL = [
    "a" * 100_000,
    "a=" * 50_000,
    "--token=" + "x" * 100_000,
    "https://" + "u:" * 50_000,
    "x://a:" * 16_000,
    "https://u:" + "@" * 100_000,
    "https://u:p" + "/a@b" * 25_000,
    '"a":"' * 20_000,
    '{"password": "' + "\\" * 100_000,
    "Authorization: " + "Bearer " * 14_000,
    "bearer " * 14_000,
    "A_" * 50_000 + "TOKEN",
    "?token=" * 14_000,
    "-" * 100_000 + "=",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_redaction_is_linear_on_adversarial_input(text):
    import time

    start = time.perf_counter()
    redact_text(text)
    redact_argv([text, "--x", text])
    assert time.perf_counter() - start < 1.0  # the old patterns took ~12 s on some of these
