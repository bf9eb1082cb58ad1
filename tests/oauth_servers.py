"""Real OAuth 2.0 peers for tests, on 127.0.0.1 with trustme certificates (the smtp_ca of smtp_servers.py).

- TokenEndpoint: an HTTPS token endpoint in the manner of Entra ID (/<tenant>/oauth2/v2.0/token, client
  credentials in the form body) and Google (/token, an RS256 JWT bearer assertion it verifies with the
  public key of a key the test made). Errors come from what it is sent, as the real ones answer; more
  can be injected (fail_next, stall). It counts requests and connections, and keeps what it issued.
- GraphServer: POST /v1.0/users/<mailbox>/sendMail, the base64 MIME decoded into an email.message.
- XOAuth2SmtpServer: aiosmtpd behind STARTTLS with AUTH XOAUTH2 that takes only issued, live tokens.

The fixtures that start them are in tests/oauth_fixtures.py.
"""

import base64
import binascii
import email
import email.policy
import http.server
import json
import secrets
import ssl
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HOST = "127.0.0.1"
TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
CLIENT_SECRET = "Qx8~Secret.Value-never-shown_0123456789"
SMTP_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
SERVICE_ACCOUNT_EMAIL = "mailer@acme-project.iam.gserviceaccount.com"
MAILBOX = "noreply@acme.example"
SERVICE_ACCOUNT_KEY_ID = "5f1e2d3c4b5a69788796a5b4c3d2e1f001122334"

# Entra ID's answers, as documented and as seen from login.microsoftonline.com.
_ENTRA_ERRORS = {
    "AADSTS7000215": (
        401,
        "invalid_client",
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
        "the client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    ),
    "AADSTS700016": (
        400,
        "unauthorized_client",
        "AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
        "'{tenant}'. This can happen if the application has not been installed by the administrator of "
        "the tenant or consented to by any user in the tenant.",
    ),
    "AADSTS90002": (
        400,
        "invalid_request",
        "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    ),
    "AADSTS70011": (
        400,
        "invalid_scope",
        "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value "
        "for the input parameter 'scope' is not valid.",
    ),
    "AADSTS900144": (
        400,
        "invalid_request",
        "AADSTS900144: The request body must contain the following parameter: '{parameter}'.",
    ),
}
_GOOGLE_UNAUTHORIZED = (
    "Client is unauthorized to retrieve access tokens using this method, or client not authorized for "
    "any of the scopes requested."
)


@dataclass
class Issued:
    """A token the endpoint gave out: for which scope, app and mailbox (sub), until when."""

    scope: str
    client: str
    subject: str | None
    expires_at: float
    revoked: bool = False


@dataclass
class _Injected:
    status: int
    times: int
    retry_after: str | None
    body: dict | None


class _HttpsPeer(http.server.ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 whose TLS handshake runs in the connection's own thread."""

    daemon_threads = True

    def __init__(self, certificate):
        self._tls = certificate.server_context()
        self.connections = 0
        self.tls_failures = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)
        self.port = self.server_address[1]
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def finish_request(self, request, client_address):
        with self._lock:
            self.connections += 1
        try:
            wrapped = self._tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.tls_failures += 1
            return
        try:
            self.RequestHandlerClass(wrapped, client_address, self)
        finally:
            wrapped.close()

    def handle_error(self, request, client_address):
        """A client that hangs up mid-request is part of what the tests do; nothing to print."""

    def answer(self, handler) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        status, headers, body = self.server.answer(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format, *args):
        """Quiet: the tests look at what the peers recorded instead."""


def _json(status: int, data: dict, **headers) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(data).encode()


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenEndpoint(_HttpsPeer):
    """An Entra ID and Google token endpoint; see the module docstring.

    .requests: the forms received, in order (secrets included: for tests only); .connections;
    .issued {token: Issued}; .expires_in for what it issues next; fail_next(...) and .stall to misbehave;
    .echo_request_in_errors to put the received form into error_description, as a careless one might.
    """

    def __init__(self, certificate):
        super().__init__(certificate)
        self.requests: list[dict[str, str]] = []
        self.content_types: list[str] = []
        self.issued: dict[str, Issued] = {}
        self.expires_in = 3599
        self.stall = False
        self.echo_request_in_errors = False
        self.apps: dict[tuple[str, str], set[str]] = defaultdict(set)  # (tenant, client id) -> secrets
        self.service_accounts: dict[str, tuple[rsa.RSAPublicKey, str]] = {}  # email -> (key, key id)
        self.delegated: dict[str, set[str]] = defaultdict(set)  # client email -> scopes granted
        self._injected: _Injected | None = None

    def entra_url(self, tenant: str = TENANT) -> str:
        return f"https://{HOST}:{self.port}/{tenant}/oauth2/v2.0/token"

    @property
    def google_url(self) -> str:
        return f"https://{HOST}:{self.port}/token"

    def register_app(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET, tenant: str = TENANT):
        self.apps[(tenant, client_id)].add(secret)

    def register_service_account(self, client_email, public_key, key_id, scopes=(GOOGLE_SCOPE,)):
        self.service_accounts[client_email] = (public_key, key_id)
        self.delegated[client_email] = set(scopes)

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None, body=None):
        """Answer the next `times` requests with this status (and Retry-After), whatever they ask."""
        self._injected = _Injected(status, times, retry_after, body)

    def revoke_all(self) -> None:
        """Tokens issued so far stop working (as after a secret is rotated or consent withdrawn)."""
        for issued in self.issued.values():
            issued.revoked = True

    def accepts(self, token: str, scopes, mailbox: str | None = None) -> bool:
        """Whether a resource server should take this bearer token for one of these scopes (and mailbox)."""
        issued = self.issued.get(token)
        return (
            issued is not None
            and not issued.revoked
            and time.time() < issued.expires_at
            and issued.scope in scopes
            and (issued.subject is None or issued.subject == mailbox)
        )

    def answer(self, handler):
        body = handler.read_body()
        form = {name: values[0] for name, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(form)
            self.content_types.append(handler.headers.get("Content-Type", ""))
            injected = self._injected
            if injected is not None:
                injected.times -= 1
                if injected.times <= 0:
                    self._injected = None
        if self.stall:
            self._stopping.wait(30)
            return 500, {}, b""
        if injected is not None:
            headers = {"Retry-After": injected.retry_after} if injected.retry_after else {}
            return _json(injected.status, injected.body or {"error": "server_error"}, **headers)
        if handler.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return self._entra_error("AADSTS900144", form, parameter="grant_type")
        path = urlsplit(handler.path).path
        if path == "/token":
            return self._google(form)
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._entra(unquote(parts[0]), form)
        return 404, {}, b""

    def _entra(self, tenant: str, form: dict[str, str]):
        if tenant not in {known for known, _ in self.apps}:
            return self._entra_error("AADSTS90002", form, tenant=tenant)
        for parameter in ("grant_type", "client_id", "client_secret", "scope"):
            if not form.get(parameter):
                return self._entra_error("AADSTS900144", form, parameter=parameter)
        if form["grant_type"] != "client_credentials":
            return self._entra_error("AADSTS900144", form, parameter="grant_type")
        client_id = form["client_id"]
        if (tenant, client_id) not in self.apps:
            return self._entra_error("AADSTS700016", form, client_id=client_id, tenant=tenant)
        if form["client_secret"] not in self.apps[(tenant, client_id)]:
            return self._entra_error("AADSTS7000215", form, client_id=client_id)
        if form["scope"] not in (SMTP_SCOPE, GRAPH_SCOPE):
            return self._entra_error("AADSTS70011", form)
        token = secrets.token_urlsafe(1200)  # Entra ID's tokens are JWTs of 1.5 to 2.5 kB
        return self._issue(token, Issued(form["scope"], client_id, None, time.time() + self.expires_in))

    def _entra_error(self, code: str, form, **values):
        status, error, description = _ENTRA_ERRORS[code]
        values.setdefault("tenant", TENANT)
        values.setdefault("client_id", form.get("client_id", ""))
        description = description.format(**values)
        description += (
            f"\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}\r\nTimestamp: "
            + time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        )
        if self.echo_request_in_errors:
            description += f" Request: {form}"
        return _json(
            status,
            {
                "error": error,
                "error_description": description,
                "error_codes": [int(code.removeprefix("AADSTS"))],
                "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
                "error_uri": f"https://login.microsoftonline.com/error?code={code.removeprefix('AADSTS')}",
            },
        )

    def _google(self, form: dict[str, str]):
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._google_error(400, "unsupported_grant_type", "Invalid grant_type: ", form)
        try:
            header_part, claims_part, signature_part = form.get("assertion", "").split(".")
            header = json.loads(_b64url_decode(header_part))
            claims = json.loads(_b64url_decode(claims_part))
            signature = _b64url_decode(signature_part)
        except (ValueError, binascii.Error):
            return self._google_error(400, "invalid_grant", "Invalid JWT: not a JWT.", form)
        if header.get("alg") != "RS256":
            return self._google_error(400, "invalid_grant", "Invalid JWT: alg must be RS256.", form)
        known = self.service_accounts.get(claims.get("iss"))
        if known is None:
            return self._google_error(400, "invalid_grant", "Invalid grant: account not found", form)
        public_key, key_id = known
        try:
            public_key.verify(
                signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return self._google_error(400, "invalid_grant", "Invalid JWT Signature.", form)
        if header.get("kid") not in (None, key_id):
            return self._google_error(400, "invalid_grant", "Invalid JWT Signature.", form)
        now = time.time()
        issued_at, expires = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(issued_at, int)
            or not isinstance(expires, int)
            or not issued_at - 60 <= now < expires
            or expires - issued_at > 3600
        ):
            return self._google_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
                form,
            )
        if claims.get("aud") != self.google_url:
            return self._google_error(400, "invalid_grant", "Invalid JWT: Invalid audience.", form)
        subject, scope = claims.get("sub"), claims.get("scope")
        if not subject or scope not in self.delegated[claims["iss"]]:
            return self._google_error(401, "unauthorized_client", _GOOGLE_UNAUTHORIZED, form)
        token = "ya29." + secrets.token_urlsafe(160)
        return self._issue(token, Issued(scope, claims["iss"], subject, now + self.expires_in))

    def _google_error(self, status, error, description, form):
        if self.echo_request_in_errors:
            description += f" Request: {form}"
        return _json(status, {"error": error, "error_description": description})

    def _issue(self, token: str, issued: Issued):
        with self._lock:
            self.issued[token] = issued
        return _json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": token,
            },
            **{"Cache-Control": "no-store"},
        )


@dataclass(frozen=True)
class GraphReceived:
    """One sendMail as Graph received it: the mailbox in the path, the headers, the decoded message."""

    mailbox: str
    content_type: str
    authorization: str
    message: EmailMessage
    raw: bytes


class GraphServer(_HttpsPeer):
    """Microsoft Graph's sendMail; takes tokens the token endpoint issued for Graph's scope.

    .messages (GraphReceived); .requests, how many POSTs arrived; .granted_mailboxes (None: every
    mailbox; else Mail.Send reaches only these, and others get 403); fail_next(status, ...); .stall.
    """

    def __init__(self, certificate, token_endpoint: TokenEndpoint):
        super().__init__(certificate)
        self.token_endpoint = token_endpoint
        self.messages: list[GraphReceived] = []
        self.requests = 0
        self.granted_mailboxes: set[str] | None = None
        self.stall = False
        self._injected: _Injected | None = None

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: str | None = None, code=None, message=None
    ):
        body = {
            "error": {
                "code": code or "ErrorInjected",
                "message": message or "injected",
                "innerError": {"request-id": str(uuid.uuid4())},
            }
        }
        self._injected = _Injected(status, times, retry_after, body)

    def answer(self, handler):
        body = handler.read_body()
        request_id = str(uuid.uuid4())
        with self._lock:
            self.requests += 1
            injected = self._injected
            if injected is not None:
                injected.times -= 1
                if injected.times <= 0:
                    self._injected = None
        if self.stall:
            self._stopping.wait(30)
            return 500, {}, b""
        if injected is not None:
            headers = {"request-id": request_id}
            if injected.retry_after:
                headers["Retry-After"] = injected.retry_after
            return _json(injected.status, injected.body, **headers)
        parts = urlsplit(handler.path).path.split("/")
        if len(parts) != 5 or parts[:3] != ["", "v1.0", "users"] or parts[4] != "sendMail":
            return self._error(404, "ResourceNotFound", "Resource not found for the segment.", request_id)
        mailbox = unquote(parts[3])
        authorization = handler.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or not self.token_endpoint.accepts(token, {GRAPH_SCOPE}):
            return self._error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
                request_id,
                WWW_Authenticate='Bearer realm=""',
            )
        if self.granted_mailboxes is not None and mailbox not in self.granted_mailboxes:
            return self._error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", request_id
            )
        content_type = handler.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip() != "text/plain":
            return self._error(400, "RequestBodyRead", "Cannot read the request body as JSON.", request_id)
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            return self._error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
                request_id,
            )
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        with self._lock:
            self.messages.append(GraphReceived(mailbox, content_type, authorization, message, raw))
        return 202, {"request-id": request_id, "client-request-id": request_id}, b""

    def _error(self, status, code, message, request_id, **headers):
        headers = {name.replace("_", "-"): value for name, value in headers.items()}
        return _json(
            status,
            {
                "error": {
                    "code": code,
                    "message": message,
                    "innerError": {"request-id": request_id, "date": time.strftime("%Y-%m-%dT%H:%M:%S")},
                }
            },
            **{"request-id": request_id},
            **headers,
        )


@dataclass
class AuthAttempt:
    """One AUTH XOAUTH2 as the SMTP peer saw it: the user= field and whether it was let in."""

    user: str
    accepted: bool
    line_length: int


@dataclass
class SmtpReceived:
    """A message the XOAUTH2 SMTP peer accepted, with the mailbox that authenticated."""

    authenticated_user: str
    envelope_from: str
    recipients: list[str]
    message: EmailMessage


class _XOAuth2Protocol(SMTP):
    line_length_limit = 12288 + 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # RFC 4954 lets an AUTH command line be 12288 octets, as Exchange and Gmail take; a bearer token
        # from Entra ID is longer than aiosmtpd's default 512 for every command. Per connection, since
        # aiosmtpd's own table is shared by every server in the process.
        self.command_size_limits = defaultdict(lambda: SMTP.command_size_limit, {"AUTH": 12288})


class _XOAuth2Controller(Controller):
    def factory(self):
        return _XOAuth2Protocol(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class XOAuth2SmtpServer:
    """aiosmtpd behind STARTTLS (required) with AUTH XOAUTH2 for tokens the token endpoint issued.

    refusal: "microsoft" (535 5.7.3 at once) or "google" (334 with a base64 JSON error, then 535 5.7.8).
    refuse_all: refuse even good tokens, as Exchange does when SMTP AUTH is off for the mailbox.
    .auth_attempts (AuthAttempt), .messages (SmtpReceived), .wait_for(count).
    """

    def __init__(
        self,
        certificate,
        token_endpoint: TokenEndpoint,
        *,
        refusal="microsoft",
        refuse_all=False,
        scopes=(SMTP_SCOPE, GOOGLE_SCOPE),
    ):
        self.token_endpoint = token_endpoint
        self.refusal = refusal
        self.refuse_all = refuse_all
        self.scopes = set(scopes)
        self.auth_attempts: list[AuthAttempt] = []
        self.messages: list[SmtpReceived] = []
        self._arrived = threading.Condition()
        self._controller = _XOAuth2Controller(
            self,
            hostname=HOST,
            port=0,
            server_hostname="smtp.test",
            tls_context=certificate.server_context(),
            require_starttls=True,
            auth_require_tls=True,
            timeout=30,
        )

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> "XOAuth2SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 5) -> list[SmtpReceived]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            return list(self.messages)

    async def auth_XOAUTH2(self, server, args):
        if len(args) == 1:
            response = await server.challenge_auth("")
            if response is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                response = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = response.decode("ascii", "replace").split("\x01")
        user = fields[0].removeprefix("user=") if fields and fields[0].startswith("user=") else ""
        auth = fields[1] if len(fields) == 4 and fields[2:] == ["", ""] else ""
        token = auth.removeprefix("auth=Bearer ") if auth.startswith("auth=Bearer ") else ""
        accepted = (
            bool(user and token)
            and not self.refuse_all
            and self.token_endpoint.accepts(token, self.scopes, user)
        )
        self.auth_attempts.append(AuthAttempt(user, accepted, len(args[1]) if len(args) > 1 else 0))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        if self.refusal == "google":
            error = json.dumps({"status": "400", "schemes": "Bearer", "scope": GOOGLE_SCOPE})
            await server.challenge_auth(error)
            return AuthResult(
                success=False,
                handled=False,
                message="535 5.7.8 Username and Password not accepted. For more information, go to "
                "https://support.google.com/mail/?p=BadCredentials",
            )
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful [SMTP.test]"
        )

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not session.authenticated:
            return "530 5.7.57 Client not authenticated to send mail"
        return MISSING

    async def handle_DATA(self, server, session, envelope):
        received = SmtpReceived(
            authenticated_user=session.auth_data,
            envelope_from=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            message=email.message_from_bytes(
                envelope.original_content.replace(b"\r\n", b"\n"), policy=email.policy.default
            ),
        )
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()
        return "250 2.0.0 OK queued"


def service_account_key_json(rsa_key: rsa.RSAPrivateKey, token_uri: str, /, **overrides) -> str:
    """A service-account JSON key as the Google Cloud console downloads it; overrides replace fields
    (None removes one)."""
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = {
        "type": "service_account",
        "project_id": "acme-project",
        "private_key_id": SERVICE_ACCOUNT_KEY_ID,
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "112233445566778899001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/mailer",
        "universe_domain": "googleapis.com",
    }
    for name, value in overrides.items():
        if value is None:
            key.pop(name, None)
        else:
            key[name] = value
    return json.dumps(key, indent=2)
