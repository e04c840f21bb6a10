"""HS256 JSON Web Tokens with the standard library.

Claims: `sub` (a non-empty string: who the token is for), `exp` (expiry, seconds since
the epoch) and `iat` (issued at; informational). The HMAC key is the jwt_secret file's
content without surrounding whitespace, as UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(Exception):
    """The token is malformed, wrongly signed or expired."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256)
    return _b64encode(digest.digest())


def _json_segment(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def mint(key: str, subject: str, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": subject, "iat": issued, "exp": issued + ttl_seconds}
    signing_input = f"{_json_segment(_HEADER)}.{_json_segment(claims)}"
    return f"{signing_input}.{_sign(signing_input, key)}"


def verify(token: str, key: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or TokenError saying why it is not acceptable."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise TokenError("malformed token")
    header_part, claims_part, signature = parts
    # Compare signatures first, so nothing unauthenticated is trusted; HS256 only,
    # which also refuses "alg": "none".
    if not hmac.compare_digest(signature, _sign(f"{header_part}.{claims_part}", key)):
        raise TokenError("invalid signature")
    try:
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(claims_part))
    except ValueError as error:
        raise TokenError("malformed token") from error
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("unsupported algorithm")
    if not isinstance(claims, dict):
        raise TokenError("malformed claims")
    expiry = claims.get("exp")
    if not isinstance(expiry, (int, float)) or isinstance(expiry, bool):
        raise TokenError("missing exp claim")
    if expiry <= (time.time() if now is None else now):
        raise TokenError("token expired")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("missing sub claim")
    return claims
