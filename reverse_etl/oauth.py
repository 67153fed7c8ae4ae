"""Bearer tokens for Google APIs (FCM HTTP v1, Data Manager): a fixed token, or OAuth2 access tokens minted
from a service account with google-auth.

A destination names either `token_env` (the variable holds an access token minted elsewhere) or
`service_account_env` (the variable holds the service-account JSON key itself, or the path of the file).
Minted tokens are cached and refreshed before they expire (google-auth treats a token as stale 3 min 45 s
before its expiry), by one thread at a time; a 401 from the API forces one refresh and one resend. The
private key and every token are registered with the redactor, so neither reaches a log, error or table.
The key's `token_uri` says where tokens are minted (the stand-ins serve one on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import json
import os
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


def load_service_account_info(env_name: str, *, where: str) -> dict[str, Any]:
    """The service-account key from environment variable `env_name`: JSON content, or a path to it.

    Errors name the variable and the problem, never the content."""
    raw = os.environ.get(env_name, "")
    if not raw.strip():
        raise MissingSecretError(f"environment variable {env_name} (named by {where}) is not set or empty")
    if raw.lstrip().startswith("{"):
        register(raw.strip())
        text, origin = raw, f"environment variable {env_name}"
    else:
        path = Path(raw.strip()).expanduser()
        origin = f"file {path} (from {env_name})"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MissingSecretError(
                f"{where}: cannot read the service-account key {origin}: {exc.strerror}"
            ) from None
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise SyncConfigError(
            f"{where}: service-account key in {origin} is not valid JSON (line {exc.lineno})"
        ) from None
    if not isinstance(info, dict):
        raise SyncConfigError(f"{where}: service-account key in {origin} is not a JSON object")
    missing = [k for k in _REQUIRED_KEYS if not info.get(k)]
    if missing:
        raise SyncConfigError(f"{where}: service-account key in {origin} lacks {', '.join(missing)}")
    if info.get("type", "service_account") != "service_account":
        raise SyncConfigError(f"{where}: {origin} holds a {info['type']!r} key, not a service account")
    register(str(info["private_key"]))
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
