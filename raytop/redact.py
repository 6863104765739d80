"""Hide secrets before anything is shown, logged or recorded.

``redact_argv`` and ``redact_env`` hide values whose *name* looks secret (``--token X``,
``--password=...``, ``*_TOKEN``, ``*_KEY``, ``*SECRET*``, ``*PASSWORD*``) and the password of URLs
written as ``scheme://user:pass@host``. ``redact_text`` removes the current Ray auth token (from
``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) wherever it appears.
Over-redaction is preferred to a leak: ``--sort-key name`` loses its value too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "***"

_SECRET_NAME = re.compile(
    r"(^|_)(TOKEN|KEY|APIKEY|KEYS|PASS|PW|SIG|SIGNATURE|AUTH)$|SECRET|PASSWORD|PASSWD|PASSPHRASE"
    r"|CREDENTIAL|COOKIE|AUTHORIZATION|(^|_)PWD$"
)
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)$", re.S)

# Every pattern below is linear: bounded repeats, or classes that cannot overlap with what follows
# (the 100 KB adversarial inputs in tests/security/test_redact.py hold them to that).
# ``name=``, ``name: ``, ``--name=``, ``"name": `` or ``'name': `` anywhere in a text; the
# lookbehind keeps a match from starting inside a longer name.
_NAME_SEP = re.compile(
    r"""(?<![\w.-])(?P<q>["']?)-{0,2}(?P<name>[A-Za-z_][\w.-]{0,63})(?P=q)\s{0,8}[=:]\s{0,8}""")
_QUOTED_VALUE = re.compile(r""""(?:[^"\\\n]|\\.){0,4096}"|'(?:[^'\\\n]|\\.){0,4096}'""")
_PLAIN_VALUE = re.compile(r"""[^\s&;,"'<>(){}\[\]]+""")
_HEADER_VALUE = re.compile(r"""[^\r\n"']+""")  # an Authorization or Cookie header: all of it
_HEADERS = frozenset({"AUTHORIZATION", "PROXY_AUTHORIZATION", "COOKIE", "SET_COOKIE"})
_BEARER = re.compile(r"(?i)(?<![\w-])(?P<kw>bearer\s{1,8})[A-Za-z0-9._~+/=-]{8,}")
_WHITESPACE = re.compile(r"\s")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost|\[[0-9A-Fa-f:.]+\]|[\w-]+(?=:))"
                   r"(?::\d{1,5})?")
# Tokens shorter than this are not searched for in text: a tiny "token" would mangle everything.
_MIN_TOKEN_LEN = 8


def _normalize(name: str) -> str:
    return name.lstrip("-").upper().replace("-", "_").replace(".", "_")


def is_secret_name(name: str) -> bool:
    """True for option or variable names whose value should never be shown."""
    norm = _normalize(name)
    if norm in ("PWD", "OLDPWD"):  # the shell's working directories, not passwords
        return False
    return bool(norm) and _SECRET_NAME.search(norm) is not None


def redact_url_credentials(s: str) -> str:
    """``scheme://user:password@host`` with the password masked, also when it holds ``/`` or
    ``@``. Each ``://`` is followed up to the next blank or the next ``://``: linear."""
    out: list[str] = []
    done = 0
    starts = [m.end() for m in re.finditer("://", s)]
    for k, start in enumerate(starts):
        limit = starts[k + 1] - 3 if k + 1 < len(starts) else len(s)
        blank = _WHITESPACE.search(s, start, limit)
        end = blank.start() if blank else limit
        span = _credentials_span(s, start, end)
        if span is not None and span[0] >= done:
            out += [s[done:span[0]], MASK]
            done = span[1]
    return "".join(out) + s[done:]


def _credentials_span(s: str, start: int, end: int) -> tuple[int, int] | None:
    """(from, to) of the password in the authority starting at ``start``, or None."""
    authority = re.split("[?#]", s[start:end], maxsplit=1)[0]
    first_at = None
    offset = 0
    for piece in authority.split("/"):
        at = piece.rfind("@")
        if at >= 0:
            if first_at is None:
                first_at = offset + at
            if _HOST.fullmatch(piece[at + 1:]):  # the first '@' followed by a real host name
                first_at = offset + at
                break
        offset += len(piece) + 1
    if first_at is None:
        return None
    colon = authority.find(":", 0, first_at)
    if colon < 0 or colon + 1 == first_at:
        return None
    return start + colon + 1, start + first_at


def _mask_assignments(s: str) -> str:
    """The values of secret-named assignments in free text: ``DB_PASSWORD=x``, ``?token=x&``,
    ``{"api_key": "x"}``, ``'HF_TOKEN': 'x'``, ``Authorization: Bearer x``."""
    out: list[str] = []
    done = 0
    for m in _NAME_SEP.finditer(s):
        if m.start() < done or not is_secret_name(m["name"]):
            continue
        span = _value_span(s, m.end(), _normalize(m["name"]) in _HEADERS)
        if span is not None:
            out += [s[done:span[0]], MASK]
            done = span[1]
    return "".join(out) + s[done:]


def _value_span(s: str, pos: int, header: bool) -> tuple[int, int] | None:
    quoted = _QUOTED_VALUE.match(s, pos)
    if quoted:
        return (pos + 1, quoted.end() - 1) if quoted.end() - pos > 2 else None
    plain = (_HEADER_VALUE if header else _PLAIN_VALUE).match(s, pos)
    return (pos, plain.end()) if plain else None


def _ray_tokens() -> list[str]:
    """The Ray auth token(s) valid here; read fresh each call since ray.init may create one."""
    found: list[str] = []
    env_token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if env_token:
        found.append(env_token)
    paths = [Path.home() / ".ray" / "auth_token"]
    custom = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if custom:
        paths.insert(0, Path(custom).expanduser())
    for path in paths:
        try:
            token = path.read_text(encoding="utf-8", errors="replace").strip()
        except (OSError, ValueError):
            continue
        if token:
            found.append(token)
    return [t for t in dict.fromkeys(found) if len(t) >= _MIN_TOKEN_LEN]


def redact_text(s: str, tokens: Iterable[str] | None = None) -> str:
    """``s`` without the Ray auth token, URL passwords, secret-named values (``KEY=…``,
    ``"api_key": …``, ``?token=…``, ``Authorization: …``) and bearer tokens."""
    if not s:
        return s
    for token in _ray_tokens() if tokens is None else tokens:
        if token and token in s:
            s = s.replace(token, MASK)
    s = _mask_assignments(redact_url_credentials(s))
    return _BEARER.sub(lambda m: m["kw"] + MASK, s)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A copy of a command line with secret option values and URL passwords masked.

    Handles ``--token X``, ``--token=X``, ``NAME_TOKEN=X`` (env-style prefixes) and URLs.
    """
    tokens = _ray_tokens()
    out: list[str] = []
    hide_next = False
    for raw in argv:
        arg = str(raw)
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        if arg.startswith("-") and not arg.startswith("--") and "=" not in arg and len(arg) > 2:
            # "-p" style short options are ambiguous; only long names are matched.
            out.append(redact_text(arg, tokens))
            continue
        if arg.startswith("--") and "=" in arg:
            name, _, _ = arg.partition("=")
            out.append(f"{name}={MASK}" if is_secret_name(name) else redact_text(arg, tokens))
            continue
        if arg.startswith("--"):
            out.append(arg)
            hide_next = is_secret_name(arg)
            continue
        m = _ASSIGNMENT.match(arg)
        if m and is_secret_name(m["name"]):
            out.append(f"{m['name']}={MASK}")
            continue
        out.append(redact_text(arg, tokens))
    return out


def redact_env(env: Mapping[str, str]) -> dict:
    """A copy of an environment with the values of secret-looking variables masked."""
    tokens = _ray_tokens()
    return {
        str(k): (MASK if is_secret_name(str(k)) else redact_text(str(v), tokens))
        for k, v in env.items()
    }


# ---- ray_remote_args ------------------------------------------------------------------------

# The ray_remote_args raytop's analysis reads (fusion, GPU/CPU/memory rules), with the JSON shape
# each may keep. Any other key (runtime_env, _metadata, ...) keeps its name, not its value:
# runtime_env carries env_vars and pip index URLs, i.e. credentials.
_NUMBER_ARGS = frozenset({"num_cpus", "num_gpus", "memory", "object_store_memory",
                          "max_concurrency", "max_retries", "max_restarts", "max_task_retries"})
_NAME_ARGS = frozenset({"accelerator_type", "scheduling_strategy"})
_MAX_NAME_LEN = 200
# Per process: two operators with different runtime_envs get different markers (so a fusion
# difference stays visible), while the marker cannot be matched against guessed values.
_MARKER_KEY = os.urandom(16)
_MARKER = re.compile(r"<redacted(:[0-9a-f]{8})?>")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _marker(value: Any) -> str:
    try:
        raw = json.dumps(value, sort_keys=True, default=repr).encode("utf-8", "replace")
    except (TypeError, ValueError, RecursionError):
        return "<redacted>"
    return f"<redacted:{hmac.new(_MARKER_KEY, raw, hashlib.sha256).hexdigest()[:8]}>"


def _kept_value(key: str, value: Any) -> Any:
    """``value`` when ``key`` is one raytop reads and ``value`` has its expected shape, else None."""
    if key in _NUMBER_ARGS:
        return value if value is None or _is_number(value) else None
    if key == "scheduling_strategy" and value is not None and not isinstance(value, str):
        return type(value).__name__  # e.g. NodeAffinitySchedulingStrategy: its name is enough
    if key in _NAME_ARGS:
        ok = isinstance(value, str) and len(value) <= _MAX_NAME_LEN
        return redact_text(value, ()) if ok else None
    if key == "resources" and isinstance(value, Mapping):
        ok = all(isinstance(k, str) and (v is None or _is_number(v)) for k, v in value.items())
        return dict(value) if ok else None
    if key == "label_selector" and isinstance(value, Mapping):
        ok = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        return dict(value) if ok else None
    return None


def redact_remote_args(args: Mapping[str, Any] | None) -> dict:
    """``ray_remote_args`` with only the resource keys raytop reads left as they are.

    Every other key keeps its name and gets a ``<redacted:…>`` marker instead of its value (the
    same value gives the same marker within one process). Idempotent.
    """
    out = {}
    for key, value in dict(args or {}).items():
        key = str(key)
        kept = _kept_value(key, value)
        if kept is not None or value is None:
            out[key] = kept
        elif isinstance(value, str) and _MARKER.fullmatch(value):
            out[key] = value
        else:
            out[key] = _marker(value)
    return out


def redact_plan(plan):
    """``plan`` (a ``model.Plan``) with every logical operator's ray_remote_args redacted: a
    plan from an older probe or another source must not bring secrets to screen or disk."""
    import dataclasses

    logical = tuple(
        dataclasses.replace(op, ray_remote_args=redact_remote_args(op.ray_remote_args))
        if op.ray_remote_args else op for op in plan.logical)
    return dataclasses.replace(plan, logical=logical)
