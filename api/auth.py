"""API tokens with roles, checked once for every request before any resolver runs.

ITAM_API_TOKENS="token:role,token:role" (roles: reader < ingester < admin). Without tokens the
API serves anonymous readers only on a loopback address; binding elsewhere needs tokens.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from enum import IntEnum

from fastapi import HTTPException, Request

from api.ratelimit import RateLimiter, rate_from_env, worker_share

# Host headers an anonymous (loopback) API answers, any port: never a name an attacker's DNS controls.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class Role(IntEnum):
    READER = 1
    INGESTER = 2
    ADMIN = 3


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    caller: str = ""        # whom the rate limit counts: a digest of the token, or the client address


class TokenConfigError(ValueError):
    pass


def parse_tokens(text: str) -> dict[str, Role]:
    """'secret1:reader,secret2:admin' -> {secret: role} (commas or new lines between entries, '#'
    starts a comment line); tokens shorter than 16 characters are refused."""
    tokens: dict[str, Role] = {}
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for item in filter(None, (part.strip() for line in lines for part in line.split(","))):
        token, _, role = item.rpartition(":")
        if not token or role.upper() not in Role.__members__:
            raise TokenConfigError(f"ITAM_API_TOKENS entry must be 'token:role' with role in "
                                   f"{', '.join(r.name.lower() for r in Role)}")
        if len(token) < 16:
            raise TokenConfigError("ITAM_API_TOKENS: every token needs at least 16 characters")
        tokens[token] = Role[role.upper()]
    return tokens


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tokens_text() -> str:
    """ITAM_API_TOKENS, or the file ITAM_API_TOKENS_FILE names (tokens then stay out of the environment
    and `ps`); the file must be readable by its owner only, and giving both is refused."""
    inline, path = os.environ.get("ITAM_API_TOKENS", ""), os.environ.get("ITAM_API_TOKENS_FILE", "")
    if not path:
        return inline
    if inline:
        raise TokenConfigError("set ITAM_API_TOKENS or ITAM_API_TOKENS_FILE, not both")
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise TokenConfigError(f"ITAM_API_TOKENS_FILE {path} is readable by others (mode {mode & 0o777:o}): "
                                   "chmod 600 it")
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise TokenConfigError(f"ITAM_API_TOKENS_FILE {path}: {exc.strerror}") from None


class TokenAuth:
    """A FastAPI dependency: the caller's principal, or 401/403."""

    def __init__(self, tokens: dict[str, Role], allow_anonymous: bool, limiter: RateLimiter | None = None):
        self.tokens = tokens
        self.allow_anonymous = allow_anonymous and not tokens
        self.limiter = limiter or RateLimiter(rate_from_env())

    @classmethod
    def from_env(cls, bind_host: str, workers: int = 1) -> "TokenAuth":
        """Tokens from the environment; the rate limit is this process's share when `workers` serve."""
        tokens = parse_tokens(tokens_text())
        if not tokens and not is_loopback(bind_host):
            raise TokenConfigError(f"refusing to serve on {bind_host} without ITAM_API_TOKENS")
        return cls(tokens, allow_anonymous=is_loopback(bind_host),
                   limiter=RateLimiter(worker_share(rate_from_env(), workers)))

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "bearer" and presented:
            for token, role in self.tokens.items():
                if hmac.compare_digest(token.encode(), presented.strip().encode()):
                    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
                    return Principal(f"token-{role.name.lower()}", role, f"token:{digest}")
            raise HTTPException(401, "invalid API token", headers={"WWW-Authenticate": "Bearer"})
        if self.allow_anonymous:
            client = request.client.host if request.client else "unknown"
            return Principal("anonymous (loopback, no tokens configured)", Role.READER, f"client:{client}")
        raise HTTPException(401, "an API token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})

    def require(self, role: Role):
        def dependency(request: Request) -> Principal:
            principal = self.principal(request)
            if principal.role < role:
                raise HTTPException(403, f"needs role {role.name.lower()}")
            wait = self.limiter.retry_after(principal.caller)
            if wait is not None:
                raise HTTPException(429, f"too many requests (ITAM_RATE_PER_MINUTE): retry in {wait} s",
                                    headers={"Retry-After": str(wait)})
            return principal
        return dependency
