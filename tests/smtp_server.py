"""A real SMTP server for the tests (aiosmtpd, in a thread): plain, STARTTLS or implicit TLS, with or without a login;
it keeps what it was sent and refuses addresses at refused.example."""

from __future__ import annotations

import contextlib
import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN, PASSWORD = "refinery", "s3cret-mail"


@dataclass
class Mailbox:
    """What the server was sent: each message as parsed, with its envelope's recipients."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        parsed = email.message_from_bytes(envelope.original_content, policy=default)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.received if address in rcpt]


def _check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (openssl)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def smtp_server(security: str = "none", cert: tuple[Path, Path] | None = None, login: bool = False) -> Iterator[
    tuple[Mailbox, int]
]:  # fmt: skip
    """Serve on 127.0.0.1: `security` none, starttls (required) or ssl (implicit TLS, `cert` needed for both);
    `login`: a login (LOGIN, PASSWORD) is required before mail is taken."""
    mailbox, port = Mailbox(), free_port()
    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
    options: dict = {"hostname": "127.0.0.1", "port": port}
    if security == "starttls":
        options |= {"tls_context": context, "require_starttls": True}
    elif security == "ssl":
        options |= {"ssl_context": context}
    if login:
        options |= {"authenticator": _check_login, "auth_required": True, "auth_require_tls": security != "none"}
    controller = Controller(mailbox, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
