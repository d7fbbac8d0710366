"""The Temporal UI's "pass the user access token": the person's login token, checked as a JWT.

A Temporal UI with a login (a self-hosted UI behind OIDC, or Temporal Cloud) cannot send a fixed
bearer token to a codec server; it can send the signed-in person's access token. That token is a
JWT signed by the identity provider: the codec server checks its signature against the provider's
published keys (JWKS), its issuer, audience and expiry, and then who it names (``email``, else
``sub``) against an allow-list, because a provider may vouch for more people than may read
customer data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jwt

from worker.runtime.settings import Settings

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
"""Asymmetric algorithms only: a token signed with a shared secret (HS*) is never accepted."""


@dataclass(frozen=True)
class JwtCheck:
    jwks_url: str
    issuer: str | None = None
    audience: str | None = None
    allowed: tuple[str, ...] = ()
    """Emails (``ana@ourco.com``) or domains (``@ourco.com``); empty: anyone the provider signs for."""
    _keys: jwt.PyJWKClient = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600))

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtCheck | None:
        if not settings.codec_jwks_url:
            return None
        allowed = [a.strip().lower() for a in (settings.codec_jwt_allow or "").split(",") if a.strip()]
        return cls(settings.codec_jwks_url, settings.codec_jwt_issuer, settings.codec_jwt_audience, tuple(allowed))

    def person(self, token: str) -> str | None:
        """Who the token names, if it is genuine, current, for us and from an allowed person; else None.

        Blocking (the first call, and a call with an unknown key id, fetch the JWKS): run it in a thread.
        """
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError:
            return None
        who = str(claims.get("email") or claims.get("sub") or "").lower()
        if not who:
            return None
        if self.allowed and not any(who == a or (a.startswith("@") and who.endswith(a)) for a in self.allowed):
            return None
        return who
