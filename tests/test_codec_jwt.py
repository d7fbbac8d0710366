"""The codec server and the Temporal UI's "pass the user access token": a JWT checked against the
identity provider's keys, served here by a real HTTP server as a provider publishes them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import codec_keys
from tests.test_codec import UI, _json
from worker.api.app import create_app
from worker.api.codec import CodecAccess
from worker.api.codec_jwt import JwtCheck
from worker.runtime.codec import EncryptionCodec

ISSUER = "https://login.ourco.example.com/"
AUDIENCE = "temporal-ui"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROVIDER_KEY = _key()


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(PROVIDER_KEY.public_key()))
    document = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def _token(key: rsa.RSAPrivateKey = PROVIDER_KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "email": "ana.silva@ourco.example.com", "iat": now, "exp": now + 600}
    return jwt.encode({**body, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


async def test_the_ui_passing_a_persons_token_decodes_only_for_allowed_people(jwks_url: str) -> None:
    check = JwtCheck(jwks_url, issuer=ISSUER, audience=AUDIENCE, allowed=("@ourco.example.com",))
    access = CodecAccess(origins=(UI,), jwt=check)
    app = create_app(secrets=["s"], codec=EncryptionCodec(codec_keys.ring()), codec_access=access)
    sealed = await codec_keys.converter().encode(["customer data"])
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def decode(token: str) -> int:
            answer = await http.post(
                "/codec/decode", json=_json(sealed), headers={"Origin": UI, "Authorization": f"Bearer {token}"}
            )
            return answer.status_code

        assert await decode(_token()) == 200
        assert await decode(_token(email="someone@elsewhere.example.org")) == 401  # not on the allow-list
        assert await decode(_token(exp=int(time.time()) - 60)) == 401  # expired
        assert await decode(_token(aud="another-app")) == 401
        assert await decode(_token(iss="https://evil.example/")) == 401
        assert await decode(_token(key=_key())) == 401  # not signed by the provider
        forged = jwt.encode({"email": "ana.silva@ourco.example.com", "exp": 9999999999}, "secret", algorithm="HS256")
        assert await decode(forged) == 401  # a shared-secret token is never accepted
        assert await decode("not-a-jwt") == 401
