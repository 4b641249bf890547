"""A small OpenID provider in Python whose ID tokens the test writes: discovery, JWKS and a token
endpoint that answers with the next token the test queued, signed by a key only this fake holds.

    with FakeIssuer() as fake:
        fake.next_id_token = fake.id_token(nonce=..., aud="someone-else")
"""
from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.server import LocalHTTPServer

CLIENT_ID, CLIENT_SECRET = "studio", "studio-secret"
_KEY = RSAKey.generate_key(2048, parameters={"kid": "fake-key"}, private=True)


class FakeIssuer(LocalHTTPServer):
    """Serves /.well-known/openid-configuration, /jwks and /token on 127.0.0.1."""

    METHODS = ("GET", "POST")

    def __init__(self, port: int = 0):
        super().__init__(port)
        self.key = _KEY
        self.next_id_token: str | None = None
        self.claimed_issuer: str | None = None  # what discovery says the issuer is, when not this one
        self.token_requests: list[dict[str, str]] = []

    @property
    def issuer(self) -> str:
        """This issuer's URL (known once started)."""
        return self.url

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
            self.token_requests.append(form)
            body = {"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300}
            if self.next_id_token is not None:
                body["id_token"] = self.next_id_token
            self._json(handler, body)
        elif handler.path == "/.well-known/openid-configuration":
            self._json(handler, self.discovery())
        elif handler.path == "/jwks":
            self._json(handler, {"keys": [{**self.key.as_dict(private=False), "use": "sig", "alg": "RS256"}]})
        else:
            self._json(handler, {"error": "not_found"}, 404)

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def discovery(self) -> dict:
        return {"issuer": self.claimed_issuer or self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]}

    def id_token(self, nonce: str | None, key=None, header: dict | None = None, **claims) -> str:
        """A signed ID token for the client, from this issuer, valid for five minutes; `claims` override."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "fake-subject", "iat": now, "exp": now + 300,
                "email": "fay@example.org", "email_verified": True, "name": "Fay Fake", **claims}
        if nonce is not None:
            body["nonce"] = nonce
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(header or {"alg": "RS256", "kid": "fake-key"}, body, key or self.key)

    def settings(self, **more) -> dict:
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
                "OIDC_LABEL": "Fake provider", **more}
