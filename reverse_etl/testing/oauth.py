"""A stand-in OAuth2 token endpoint (Google's JWT-bearer grant) and test service accounts.

The issuer verifies the signed assertion as Google's token endpoint does: RS256 signature with the
account's public key (cryptography), issuer = the account's client_email, audience = the token endpoint,
issued-at / expiry within an hour, and the scope the API needs. It answers `{access_token, expires_in,
token_type}` and then accepts those tokens as bearer tokens until they expire.

    issuer = TokenIssuer(scope=FCM_SCOPE)
    info = issuer.new_account(token_uri=f"{standin.base_url}/token")   # service-account JSON key
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from reverse_etl.testing.server import Request, Response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # the aud google-auth signs
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 300


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Verifies JWT-bearer assertions and issues short-lived access tokens for one scope."""

    def __init__(self, scope: str, *, lifetime_s: int = 3600) -> None:
        self.scope = scope
        self.lifetime_s = lifetime_s
        self.lock = threading.Lock()
        self._accounts: dict[str, rsa.RSAPublicKey] = {}  # client_email -> public key
        self._issued: dict[str, float] = {}  # access token -> expiry (time.time())
        self.grants = 0  # tokens issued
        self.refusals: list[str] = []  # reasons assertions were refused

    # ------------------------------------------------------------------ accounts
    def new_account(
        self, token_uri: str, client_email: str = "sen-sync@sen-retail.iam.gserviceaccount.com"
    ) -> dict:
        """A service-account JSON key (as downloaded from Google Cloud) whose public key this issuer trusts."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with self.lock:
            self._accounts[client_email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": "sen-retail",
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": client_email,
            "client_id": "1000000000001",
            "token_uri": token_uri,
        }

    def expire_all(self) -> None:
        """Every issued token expires now (as if revoked): the API answers 401 to them."""
        with self.lock:
            self._issued = dict.fromkeys(self._issued, 0.0)

    # ------------------------------------------------------------------ endpoint
    def handle(self, req: Request) -> Response:
        """POST <token_uri> with grant_type=jwt-bearer and the signed assertion (form-encoded)."""
        if req.method != "POST":
            return Response(405, {"error": "invalid_request", "error_description": "POST required"})
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_GRANT:
            return self._refuse("unsupported_grant_type", f"grant_type must be {JWT_GRANT}")
        problem = self._check_assertion(form.get("assertion", ""))
        if problem:
            return self._refuse("invalid_grant", problem)
        token = "ya29.standin-" + uuid.uuid4().hex
        with self.lock:
            self._issued[token] = time.time() + self.lifetime_s
            self.grants += 1
        return Response(200, {"access_token": token, "expires_in": self.lifetime_s, "token_type": "Bearer"})

    def _refuse(self, error: str, description: str) -> Response:
        with self.lock:
            self.refusals.append(description)
        return Response(400, {"error": error, "error_description": description})

    def _check_assertion(self, assertion: str) -> str | None:
        parts = assertion.split(".")
        if len(parts) != 3:
            return "assertion is not a JWT"
        try:
            header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error):
            return "assertion is not valid base64url JSON"
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "assertion header and claims must be JSON objects"
        if header.get("alg") != "RS256":
            return "assertion must be signed with RS256"
        with self.lock:
            public_key = self._accounts.get(str(claims.get("iss")))
        if public_key is None:
            return "unknown service account (iss)"
        try:
            public_key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return "iat and exp are required"
        if iat > now + CLOCK_SKEW_S or exp < now - CLOCK_SKEW_S or exp - iat > MAX_ASSERTION_LIFETIME_S:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe"
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return f"Invalid JWT: aud must be {GOOGLE_TOKEN_AUDIENCE}"
        if self.scope not in str(claims.get("scope", "")).split():
            return f"scope {self.scope} was not requested"
        return None

    # ------------------------------------------------------------------ API side
    def accepts(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header carries a token this issuer issued and that has not expired."""
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self._issued.get(authorization[len("Bearer ") :])
        return expiry is not None and expiry > time.time()


def token_route(issuer: TokenIssuer | None, req: Request) -> Response | None:
    """The token endpoint's answer when `req` is addressed to it (path /token), else None."""
    if issuer is not None and req.path == "/token":
        return issuer.handle(req)
    return None


def bearer_ok(static_token: str | None, issuer: TokenIssuer | None, authorization: str | None) -> bool:
    """A stand-in API accepts its fixed token and, when it mints tokens, any live token it issued."""
    if static_token is not None and authorization == f"Bearer {static_token}":
        return True
    return issuer is not None and issuer.accepts(authorization)
