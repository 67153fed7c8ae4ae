"""Bearer tokens for Google APIs (FCM HTTP v1, Data Manager): a fixed token, or OAuth2 access tokens minted
from a service account with google-auth.

A destination names either `token_env` (the variable holds an access token minted elsewhere) or
`service_account_env` (the variable holds the service-account JSON key itself, raw, JSON-quoted or
base64-encoded, or the path of the file).
Minted tokens are cached and refreshed before they expire (google-auth treats a token as stale 3 min 45 s
before its expiry), by one thread at a time; a 401 from the API forces one refresh and one resend. The
variable's value in every encoding, the private key (also JSON-escaped and line by line) and every token
are registered with the redactor before use, so none reaches a log, error or table.
The key's `token_uri` says where tokens are minted (the stand-ins serve one on 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx

from reverse_etl.errors import DestinationError, MissingSecretError, RetryableError, SyncConfigError
from reverse_etl.secrets import Secret, read_secret, redact, register

DATAMANAGER_SCOPE = "https://www.googleapis.com/auth/datamanager"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_REQUIRED_KEYS = ("client_email", "private_key", "token_uri")
_LINE_BREAK = re.compile(r"\\+n|\n")
_PEM_LINE = re.compile(r"[A-Za-z0-9+/=_-]{16,}")  # shorter (the last line) would mask ordinary text


def register_key_forms(value: str) -> None:
    """Register a credential for masking in every spelling it may take in a text: as given, base64
    (standard and URL-safe), JSON-quoted (escaped newlines), and, for a PEM key, each line of its body, so
    a message quoting a fragment (a parse error, a traceback line) is masked too."""
    forms = {value, value.strip(), json.dumps(value), json.dumps(value)[1:-1]}
    raw = value.encode()
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    # PEM body lines (64 base64 characters each), split on real or (once or twice) escaped newlines
    forms |= {line for line in (p.strip() for p in _LINE_BREAK.split(value)) if _PEM_LINE.fullmatch(line)}
    for form in forms:
        register(form)


def _decode_key_text(raw: str) -> str | None:
    """The JSON text of a key given inline: as is, JSON-quoted (a string holding the JSON), or base64."""
    text = raw.strip()
    if text.startswith("{"):
        return text
    if text.startswith('"'):
        try:
            inner = json.loads(text)
        except ValueError:
            return None
        return inner.strip() if isinstance(inner, str) and inner.strip().startswith("{") else None
    if len(text) > 64 and not text.startswith(("/", "~", ".")):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(text + "=" * (-len(text) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                continue
            if decoded.lstrip().startswith("{"):
                return decoded.strip()
    return None


def _looks_like_path(raw: str) -> bool:
    text = raw.strip()
    return (
        "\n" not in text
        and len(text) < 1024
        and (text.startswith(("/", "~", "./", "../")) or text.lower().endswith(".json"))
    )


def load_service_account_info(env_name: str, *, where: str) -> dict[str, Any]:
    """The service-account key from environment variable `env_name`: JSON content (raw, JSON-quoted or
    base64-encoded), or a path to it.

    Every form of a key is registered for masking before it is parsed or used; errors name the variable
    and the problem, never the content (only a value shaped like a path is quoted)."""
    raw = os.environ.get(env_name, "")
    if not raw.strip():
        raise MissingSecretError(f"environment variable {env_name} (named by {where}) is not set or empty")
    inline = _decode_key_text(raw)
    if inline is None and not _looks_like_path(raw):
        # neither a key we can read nor a path: possibly a damaged key, so never echoed
        register_key_forms(raw)
        raise MissingSecretError(
            f"{where}: {env_name} holds neither a service-account JSON key (raw, JSON-quoted or base64) "
            "nor the path of a .json file"
        )
    if inline is not None:
        register_key_forms(raw)
        register_key_forms(inline)
        text, origin = inline, f"environment variable {env_name}"
    else:
        path = Path(raw.strip()).expanduser()  # a path is not a secret: named in errors
        origin = f"file {path} (from {env_name})"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MissingSecretError(
                f"{where}: cannot read the service-account key {origin}: {exc.strerror}"
            ) from None
        register_key_forms(text)
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise SyncConfigError(
            f"{where}: service-account key in {origin} is not valid JSON (line {exc.lineno})"
        ) from None
    if not isinstance(info, dict):
        raise SyncConfigError(f"{where}: service-account key in {origin} is not a JSON object")
    for field in ("private_key", "private_key_id"):
        if isinstance(info.get(field), str):
            register_key_forms(info[field])
    missing = [k for k in _REQUIRED_KEYS if not info.get(k)]
    if missing:
        raise SyncConfigError(f"{where}: service-account key in {origin} lacks {', '.join(missing)}")
    if info.get("type", "service_account") != "service_account":
        raise SyncConfigError(f"{where}: {origin} holds a {info['type']!r} key, not a service account")
    return info


class ServiceAccountTokens:
    """OAuth2 access tokens for one service account and scope set, minted with google-auth and cached."""

    def __init__(self, info: dict[str, Any], scopes: list[str], *, where: str) -> None:
        from google.oauth2 import service_account

        try:
            self._credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)
        except (ValueError, TypeError) as exc:  # a malformed PEM key: say so without quoting it
            raise SyncConfigError(
                f"{where}: the service-account private_key cannot be loaded ({type(exc).__name__})"
            ) from None
        self.token_uri = str(info["token_uri"])
        self.account = str(info["client_email"])
        self._lock = threading.Lock()
        self._request: Any = None
        self.minted = 0  # tokens minted so far (tests and run metadata)

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token; `stale` is a token the API refused: a new one is minted unless another
        thread has already replaced it."""
        with self._lock:
            creds = self._credentials
            if creds.valid and creds.token != stale:
                return str(creds.token)
            self._refresh()
            return str(creds.token)

    def _refresh(self) -> None:
        import google.auth.exceptions
        import google.auth.transport.requests

        if self._request is None:
            self._request = google.auth.transport.requests.Request()
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.TransportError as exc:
            raise RetryableError(
                f"oauth token endpoint {self.token_uri} unreachable: {redact(exc)}"
            ) from None
        except google.auth.exceptions.RefreshError as exc:
            retryable = getattr(exc, "retryable", False)
            message = f"oauth token request for {self.account} at {self.token_uri} failed: {redact(exc)}"[
                :500
            ]
            raise (RetryableError(message) if retryable else DestinationError(message)) from None
        register(str(self._credentials.token))
        self.minted += 1

    def __repr__(self) -> str:
        return f"ServiceAccountTokens(account={self.account!r}, token_uri={self.token_uri!r})"


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>` on every request; with a service account, a 401 answer mints a
    fresh token and sends the request once more (the token may have been revoked or expired early)."""

    def __init__(self, *, static: Secret | None = None, tokens: ServiceAccountTokens | None = None) -> None:
        if (static is None) == (tokens is None):
            raise ValueError("BearerAuth needs a static token or a service account, not both")
        self._static = static
        self.tokens = tokens

    def _token(self, stale: str | None = None) -> str:
        if self._static is not None:
            return self._static.reveal()
        assert self.tokens is not None
        return self.tokens.token(stale=stale)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and self.tokens is not None:
            request.headers["Authorization"] = f"Bearer {self._token(stale=token)}"
            yield request

    def __repr__(self) -> str:
        return f"BearerAuth({self.tokens!r})" if self.tokens else "BearerAuth(static=***)"


def bearer_auth(*, token_env: str | None, service_account_env: str | None, scopes: list[str]) -> BearerAuth:
    """The auth for a destination config holding exactly one of `token_env` / `service_account_env`."""
    if service_account_env:
        where = "destination.service_account_env"
        info = load_service_account_info(service_account_env, where=where)
        return BearerAuth(tokens=_shared_tokens(info, scopes, where=where))
    if not token_env:
        raise SyncConfigError("destination: set token_env or service_account_env")
    return BearerAuth(static=read_secret(token_env, where="destination.token_env"))


_cache_lock = threading.Lock()
_cache: dict[tuple[str, ...], ServiceAccountTokens] = {}


def _shared_tokens(info: dict[str, Any], scopes: list[str], *, where: str) -> ServiceAccountTokens:
    """One token cache per (account, key, token endpoint, scopes) in the process: every sync and run in a
    Dagster process reuses a live token instead of minting one per run."""
    key_digest = hashlib.sha256(str(info["private_key"]).encode()).hexdigest()
    key = (str(info["client_email"]), key_digest, str(info["token_uri"]), *sorted(scopes))
    with _cache_lock:
        tokens = _cache.get(key)
        if tokens is None:
            tokens = _cache[key] = ServiceAccountTokens(info, scopes, where=where)
        return tokens


def check_one_credential(token_env: str | None, service_account_env: str | None) -> None:
    """Config validation: exactly one way to authenticate."""
    if bool(token_env) == bool(service_account_env):
        raise ValueError(
            "set exactly one of token_env (an access token) or service_account_env "
            "(a service-account JSON key, or its path, minted into tokens with google-auth)"
        )
