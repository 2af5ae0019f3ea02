"""A local HTTPS server that speaks Key Vault's secrets REST protocol.

Azure is out of reach from the test machine, so contract tests point the real
``azure.keyvault.secrets.SecretClient`` at this server instead. It implements the
part of the documented protocol that Medlake uses:

- ``GET /secrets/{name}[/{version}]?api-version=...`` returns the secret bundle
  (``value``, ``id``, ``attributes``, ``tags``); without a version, the latest.
- An unknown secret or version is 404 with error code ``SecretNotFound``.
- A request without ``Authorization: Bearer ...`` is 401 with a
  ``WWW-Authenticate`` challenge naming the tenant's authority and the resource
  ``https://vault.azure.net``; the SDK answers it by fetching a token and retrying.
- A bearer token other than the accepted one is 401 with the same challenge, as
  Key Vault answers a token it cannot validate.

Sources: Key Vault REST API "Get Secret"
(https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret) and
"Authentication, requests and responses"
(https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ACCEPTED_TOKEN",
    "LocalVault",
    "RecordedRequest",
    "port_with_nothing_listening",
    "running_keyvault",
]

ACCEPTED_TOKEN = "test-token"
TENANT_AUTHORITY = (
    "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000"
)
RESOURCE = "https://vault.azure.net"
CHALLENGE = f'Bearer authorization="{TENANT_AUTHORITY}", resource="{RESOURCE}"'
# The versions azure-keyvault-secrets 4.x can send; anything else is refused the
# way Key Vault refuses an unsupported api-version.
API_VERSIONS = frozenset(
    {"2016-10-01", "2025-07-01", "2026-04-01"} | {f"7.{minor}" for minor in range(7)}
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the vault saw it; the token itself is not kept."""

    method: str
    path: str
    query: Mapping[str, str]
    authorized: bool


@dataclass
class LocalVault:
    """A running local vault.

    Attributes
    ----------
    url : str
        The vault URL to give ``SecretClient`` (``https://127.0.0.1:{port}``).
    ca_path : str
        PEM file of the server's self-signed certificate, for ``connection_verify``.
    versions : dict[str, list[str]]
        Version ids of each secret, oldest first, in the order of its values.
    requests : list[RecordedRequest]
        Every request received, in order.
    """

    url: str
    ca_path: str
    versions: dict[str, list[str]]
    requests: list[RecordedRequest] = field(default_factory=list)

    def latest_version(self, name: str) -> str:
        return self.versions[name][-1]


class _VaultServer(ThreadingHTTPServer):
    def __init__(
        self,
        context: ssl.SSLContext,
        secrets: Mapping[str, list[str]],
    ) -> None:
        super().__init__(("127.0.0.1", 0), _VaultHandler)
        self.context = context
        self.url = f"https://127.0.0.1:{self.server_address[1]}"
        self.secrets = {name: list(values) for name, values in secrets.items()}
        self.versions = {
            name: [uuid.uuid4().hex for _ in values] for name, values in secrets.items()
        }
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.created = int(time.time())

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS is negotiated in the per-connection thread, so a client that never
        # completes its handshake cannot stall the accept loop.
        with self.context.wrap_socket(request, server_side=True) as tls:
            _VaultHandler(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that distrusts the certificate hangs up mid-handshake; that is
        # the behaviour under test, not a server fault worth a traceback.
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            return
        super().handle_error(request, client_address)


class _VaultHandler(BaseHTTPRequestHandler):
    server: _VaultServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        authorization = self.headers.get("Authorization", "")
        with self.server.lock:
            self.server.requests.append(
                RecordedRequest(
                    method="GET",
                    path=parts.path,
                    query=query,
                    authorized=authorization.startswith("Bearer "),
                )
            )

        if authorization != f"Bearer {ACCEPTED_TOKEN}":
            self._send_error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                challenge=True,
            )
            return
        if query.get("api-version") not in API_VERSIONS:
            self._send_error(
                400, "BadParameter", "The api-version is missing or not supported."
            )
            return

        # The SDK asks for the latest version as /secrets/{name}/ (empty version).
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        if segments and segments[-1] == "":
            segments.pop()
        if len(segments) not in (2, 3) or segments[0] != "secrets":
            self._send_error(400, "BadParameter", "Unsupported operation.")
            return
        name = segments[1]
        version = segments[2] if len(segments) == 3 else None
        values = self.server.secrets.get(name)
        known = self.server.versions.get(name, [])
        if not values or (version is not None and version not in known):
            self._send_error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key vault.",
            )
            return

        index = len(known) - 1 if version is None else known.index(version)
        created = self.server.created + index
        self._send_json(
            200,
            {
                "value": values[index],
                "id": f"{self.server.url}/secrets/{name}/{known[index]}",
                "attributes": {
                    "enabled": True,
                    "created": created,
                    "updated": created,
                    "recoveryLevel": "Recoverable+Purgeable",
                },
                "tags": {},
            },
        )

    def _send_error(
        self, status: int, code: str, message: str, *, challenge: bool = False
    ) -> None:
        headers = {"WWW-Authenticate": CHALLENGE} if challenge else {}
        self._send_json(status, {"error": {"code": code, "message": message}}, headers)

    def _send_json(
        self, status: int, body: object, headers: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        # One request per connection: nothing is left open when the server stops.
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: pytest shows the recorded requests when an assertion needs them.
        return


def _write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "medlake-test-vault")])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "vault.pem"
    key_path = directory / "vault.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def running_keyvault(secrets: Mapping[str, list[str]]) -> Iterator[LocalVault]:
    """Serve ``secrets`` (each a list of values, oldest first) over HTTPS.

    Each value gets a fresh 32-hex-digit version id, like Key Vault's; the last
    value of a list is the latest version.
    """
    # The SDK caches challenges per host:port for the whole process; a port the
    # OS hands out again must not skip the challenge the tests look for.
    from azure.keyvault.secrets._shared import http_challenge_cache

    with tempfile.TemporaryDirectory(prefix="medlake-vault-") as workspace:
        cert_path, key_path = _write_self_signed_certificate(Path(workspace))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)

        server = _VaultServer(context, secrets)
        vault = LocalVault(
            url=server.url,
            ca_path=str(cert_path),
            versions=server.versions,
            requests=server.requests,
        )
        http_challenge_cache.clear()
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-keyvault",
            daemon=True,
        )
        thread.start()
        try:
            yield vault
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            http_challenge_cache.clear()


def port_with_nothing_listening() -> int:
    """A loopback port that was free a moment ago (for connection failures)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
