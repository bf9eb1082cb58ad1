"""A real mail server for tests: Debian's Postfix, with Dovecot for SASL, as an instance of their own.

Registered by tests/conftest.py (it needs tests.smtp_servers, loaded by tests/conftest.py, for
the trustme CA). Fixtures: mta_instance (started once per pytest process, stopped at its end) and mta
(the same instance, emptied before and after each test).

Everything lives in a temporary folder: `postfix -c <folder>/postfix` with its own queue and data
directories and log (maillog_file), and `dovecot -c <folder>/dovecot/dovecot.conf` serving only
authentication, from a passwd-file, on a socket Postfix's SASL uses. Postfix listens on 127.0.0.1 only,
on free high ports, so several pytest processes can run instances side by side:

    plain         no AUTH, STARTTLS offered but not required
    submission    STARTTLS required before MAIL, AUTH required to send
    smtps         implicit TLS, AUTH required to send
    rate_limited  like plain, but anvil refuses a client more than RATE_LIMIT messages per RATE_TIME_UNIT

Nothing is relayed: the only destination is the virtual mailbox domain DOMAIN, where every address
has a mailbox (one Maildir, a file per recipient, named by its Delivered-To header). Any other
destination is refused, and mail that would leave (a bounce) ends in the error transport without a
connection. Dovecot's failure delay and per-address penalty stay as shipped (the
wrong-password tests are about them); an instance that logged a failed login is restarted after the
test, so the penalty does not follow into the next one.

Postfix's master must be started by root: without root, Postfix or Dovecot the tests are skipped,
and fail in CI (CI=true).
"""

import email
import email.policy
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.outbox_helpers import SMTP_PASSWORD, SMTP_USER
from tests.ports import free_ports

HOST = "127.0.0.1"
DOMAIN = "example.net"
SERVICES = ("plain", "submission", "smtps", "rate_limited")
RATE_LIMIT = 2  # messages per client and RATE_TIME_UNIT on the rate_limited service
RATE_TIME_UNIT = 4  # seconds
# Dovecot's default, written out because the wrong-password tests depend on it.
AUTH_FAILURE_DELAY = "2 secs"
POSTFIX_TOOLS = ("postfix", "postconf", "postmap")
DOVECOT = "dovecot"
START_ATTEMPTS = 3  # a free port may be taken by another process between our check and Postfix's bind
MAILBOX_OWNER = "nobody"  # the virtual delivery agent refuses root

_MASTER_CF = """\
{plain} inet n - n - - smtpd
  -o syslog_name=postfix/plain
  -o smtpd_tls_security_level=may
{submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=$authenticated_relay_restrictions
  -o smtpd_recipient_restrictions=$authenticated_recipient_restrictions
{smtps} inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=$authenticated_relay_restrictions
  -o smtpd_recipient_restrictions=$authenticated_recipient_restrictions
{rate_limited} inet n - n - - smtpd
  -o syslog_name=postfix/rate_limited
  -o smtpd_client_message_rate_limit={rate_limit}
  -o smtpd_client_event_limit_exceptions=
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/postfix-queue
data_directory = {root}/postfix-data
maillog_file = {root}/log/postfix.log
maillog_file_prefixes = {root}/log
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = mta.test
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtputf8_enable = yes
biff = no
alias_maps =
alias_database =
notify_classes =
in_flow_delay = 0
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# Nothing leaves this instance: mail for any other destination (a bounce, say) fails on the spot.
relayhost =
default_transport = error:5.7.1 this test instance relays nothing
relay_transport = error:5.7.1 this test instance relays nothing
local_transport = error:5.7.1 this test instance has no local users
bounce_queue_lifetime = 0
maximal_queue_lifetime = 0
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {root}/maildir
virtual_mailbox_maps = static:{domain}/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_banner = $myhostname ESMTP
smtpd_tls_chain_files = {root}/postfix/server.pem
smtpd_tls_loglevel = 1
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth_socket}
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access hash:{root}/postfix/recipient_replies
authenticated_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
authenticated_recipient_restrictions = check_recipient_access hash:{root}/postfix/recipient_replies,
    permit_sasl_authenticated, reject
anvil_rate_time_unit = {rate_time_unit}s
"""

_DOVECOT_CONF = """\
instance_name = exastro-mta-{token}
base_dir = {root}/dovecot/run
state_dir = {root}/dovecot/state
log_path = {root}/log/dovecot.log
protocols =
ssl = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = {auth_failure_delay}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home=/nonexistent
}}
service auth {{
  unix_listener {auth_socket} {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
"""


class MtaUnavailable(Exception):
    """Postfix or Dovecot cannot run here; the message says why."""


@dataclass(frozen=True)
class Delivered:
    """One message as Postfix's virtual delivery agent wrote it for one recipient into the Maildir.

    .raw is the file's bytes (LF line ends, Return-Path and Delivered-To prepended by Postfix),
    .message the same parsed, .recipient the address it was delivered to (its Delivered-To).
    """

    recipient: str
    path: Path
    raw: bytes
    message: EmailMessage

    @property
    def header_block(self) -> bytes:
        """The raw header section, up to the first empty line."""
        return self.raw.split(b"\n\n", 1)[0]

    def headers(self, name: str) -> list[str]:
        """The raw values of every header line of that name, unfolded, as UTF-8 text (encoded words
        are left as they are; parse .message to decode them)."""
        unfolded = re.sub(rb"\n[ \t]", b" ", self.header_block)
        prefix = name.lower().encode("ascii") + b":"
        return [
            line[len(prefix) :].strip().decode("utf-8", "replace")
            for line in unfolded.split(b"\n")
            if line.lower().startswith(prefix)
        ]

    def header_names(self) -> list[str]:
        """The name of every header line in the raw header section, in order."""
        return [
            line.split(b":", 1)[0].decode("ascii", "replace")
            for line in self.header_block.split(b"\n")
            if line and line[:1] not in (b" ", b"\t")
        ]


def unavailable() -> str | None:
    """Why a Postfix and Dovecot instance cannot be started on this machine, or None."""
    missing = [tool for tool in (*POSTFIX_TOOLS, DOVECOT) if _tool(tool) is None]
    if missing:
        return (
            f"{', '.join(missing)} not found: install Debian's postfix and dovecot-core "
            "(apt-get install postfix dovecot-core; .ci/run does)"
        )
    if os.geteuid() != 0:
        return "Postfix's master daemon must be started by root"
    for user in ("postfix", "dovecot", "dovenull", MAILBOX_OWNER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"the system user {user!r} is missing (the postfix and dovecot-core packages make it)"
    return None


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


class MailServer:
    """A running Postfix and Dovecot instance; see the module docstring.

    .host and .ports[service]; .user and .password of the one SASL account; .ca_file, the CA that
    issued the servers' certificate; .delivered(recipient=None) and .wait_for(count, recipient=None)
    read the Maildir (Delivered items); .postfix_log(), .dovecot_log() and .wait_for_log(pattern)
    read what was logged since the last reset(); .refuse_recipient(address, reply) and
    .accept_recipient(address) change what RCPT TO answers; .wait_until_idle() waits for Postfix's
    queue to empty; .rate_limit and .rate_time_unit describe the rate_limited service.
    """

    host = HOST
    domain = DOMAIN
    user = SMTP_USER
    password = SMTP_PASSWORD
    rate_limit = RATE_LIMIT
    rate_time_unit = RATE_TIME_UNIT

    def __init__(self, certificate_chain_file: str, ca_file: str):
        self.ca_file = ca_file
        # In /tmp whatever TMPDIR says: the postfix, dovecot and nobody users must walk the whole
        # path, and UNIX socket paths must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="exastro-mta-", dir="/tmp"))
        self.root.chmod(0o755)
        self.ports: dict[str, int] = {}
        self._replies: dict[str, str] = {}
        self._replies_mtime = 0
        self._dovecot: subprocess.Popen | None = None
        self._postfix_master_pid: int | None = None
        self._log_offsets = {"postfix": 0, "dovecot": 0}
        owner = pwd.getpwnam(MAILBOX_OWNER)
        self._mailbox_ids = (owner.pw_uid, owner.pw_gid)
        self._auth_socket = self.root / "run" / "auth"
        self._certificate_chain_file = certificate_chain_file

    def start(self) -> "MailServer":
        """Write the configuration and start Dovecot, then Postfix on free ports."""
        try:
            self._prepare()
            self._start_dovecot()
            for attempt in range(1, START_ATTEMPTS + 1):
                self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
                try:
                    self._start_postfix()
                    break
                except MtaUnavailable:
                    if attempt == START_ATTEMPTS or "in use" not in self._read("postfix"):
                        raise
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Postfix and Dovecot, leaving no process of theirs behind, and remove the folder."""
        try:
            self._stop_postfix()
        finally:
            try:
                self._stop_dovecot()
            finally:
                shutil.rmtree(self.root, ignore_errors=True)

    def _prepare(self) -> None:
        for folder in ("postfix", "postfix-queue", "postfix-data", "log", "run", "dovecot", "maildir"):
            (self.root / folder).mkdir(mode=0o755)
        postfix = pwd.getpwnam("postfix")
        os.chown(self.root / "postfix-data", postfix.pw_uid, postfix.pw_gid)
        os.chown(self.root / "maildir", *self._mailbox_ids)
        etc = self.root / "postfix"
        server_pem = etc / "server.pem"
        shutil.copyfile(self._certificate_chain_file, server_pem)
        server_pem.chmod(0o600)  # read by smtpd while still root
        uid, gid = self._mailbox_ids
        (etc / "main.cf").write_text(
            _MAIN_CF.format(
                root=self.root,
                domain=DOMAIN,
                uid=uid,
                gid=gid,
                auth_socket=self._auth_socket,
                rate_time_unit=RATE_TIME_UNIT,
            )
        )
        self._write_replies()
        users = self.root / "dovecot" / "users"
        users.write_text(f"{SMTP_USER}:{{PLAIN}}{SMTP_PASSWORD}::::::\n")
        users.chmod(0o640)
        os.chown(users, 0, pwd.getpwnam("dovecot").pw_gid)
        (self.root / "dovecot" / "dovecot.conf").write_text(
            _DOVECOT_CONF.format(
                root=self.root,
                token=secrets.token_hex(4),
                auth_failure_delay=AUTH_FAILURE_DELAY,
                uid=uid,
                gid=gid,
                auth_socket=self._auth_socket,
            )
        )

    def _write_master_cf(self) -> None:
        (self.root / "postfix" / "master.cf").write_text(
            _MASTER_CF.format(
                **{name: f"{HOST}:{port}" for name, port in self.ports.items()}, rate_limit=RATE_LIMIT
            )
        )

    def _postfix(self, *arguments: str, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [_tool("postfix"), "-c", str(self.root / "postfix"), *arguments],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise MtaUnavailable(
                f"postfix {' '.join(arguments)} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self._read('postfix')[-3000:]}"
            )
        return result

    def _start_postfix(self) -> None:
        self._write_master_cf()
        self._postfix("start")
        pid_file = self.root / "postfix-queue" / "pid" / "master.pid"
        self._postfix_master_pid = int(pid_file.read_text().split()[0])

    def _stop_postfix(self) -> None:
        pid, self._postfix_master_pid = self._postfix_master_pid, None
        if pid is None:
            return
        self._postfix("stop", check=False)
        _end_process_group(pid, grace=5)

    def _start_dovecot(self) -> None:
        log = open(self.root / "log" / "dovecot.stderr", "wb")  # noqa: SIM115 (Popen keeps it)
        with log:
            self._dovecot = subprocess.Popen(
                [_tool(DOVECOT), "-F", "-c", str(self.root / "dovecot" / "dovecot.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended whole in _stop_dovecot
            )
        deadline = time.monotonic() + 15
        while not self._auth_socket.exists():
            if self._dovecot.poll() is not None or time.monotonic() > deadline:
                output = (self.root / "log" / "dovecot.stderr").read_text(errors="replace")
                raise MtaUnavailable(f"dovecot did not start:\n{output}\n{self._read('dovecot')[-3000:]}")
            time.sleep(0.05)

    def _stop_dovecot(self) -> None:
        process, self._dovecot = self._dovecot, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Its auth process would go on serving the smtpd processes connected to it, with the failed
        # logins it counted; they connect to the next Dovecot when this one is gone.
        _end_process_group(process.pid, grace=0.5)
        self._auth_socket.unlink(missing_ok=True)

    def restart_dovecot(self) -> None:
        """Start Dovecot afresh: it forgets the failed logins it holds against 127.0.0.1."""
        self._stop_dovecot()
        self._start_dovecot()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 15
        for service, port in self.ports.items():
            while True:
                try:
                    with socket.create_connection((HOST, port), timeout=1):
                        break
                except OSError as error:
                    if time.monotonic() > deadline:
                        raise MtaUnavailable(
                            f"Postfix's {service} service is not listening: {error}"
                        ) from None
                    time.sleep(0.05)

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT TO:<address> with reply ("450 4.2.0 Mailbox busy", "550 5.1.1 ...") from the
        next connection on."""
        self._replies[address.lower()] = reply
        self._write_replies()

    def accept_recipient(self, address: str) -> None:
        """Take mail for address again, from the next connection on."""
        self._replies.pop(address.lower(), None)
        self._write_replies()

    def _write_replies(self) -> None:
        # An indexed table: smtpd notices that it changed and restarts before taking a connection.
        source = self.root / "postfix" / "recipient_replies"
        source.write_text("".join(f"{address} {reply}\n" for address, reply in self._replies.items()))
        result = subprocess.run(
            [_tool("postmap"), "-c", str(self.root / "postfix"), f"hash:{source}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise MtaUnavailable(f"postmap failed: {result.stderr.strip()}")
        # smtpd compares the table's mtime, in whole seconds: two changes within one second must
        # still look like a change to a process that opened the first.
        table = source.with_name(source.name + ".db")
        mtime = max(int(time.time()), self._replies_mtime + 1)
        os.utime(table, (mtime, mtime))
        self._replies_mtime = mtime

    def delivered(self, recipient: str | None = None) -> list[Delivered]:
        """Every message delivered (to recipient, or to anyone), oldest first."""
        new = self.root / "maildir" / DOMAIN / "new"
        found = []
        for path in new.iterdir() if new.exists() else ():
            raw = path.read_bytes()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            item = Delivered("", path, raw, message)
            delivered_to = item.headers("Delivered-To")[0]  # raw: it may be a UTF-8 address
            if recipient is None or delivered_to.lower() == recipient.lower():
                found.append(Delivered(delivered_to, path, raw, message))
        return sorted(found, key=lambda item: (item.path.stat().st_mtime_ns, item.path.name))

    def wait_for(self, count: int, recipient: str | None = None, timeout: float = 10) -> list[Delivered]:
        """Wait until at least count messages were delivered (to recipient, or anyone); return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.delivered(recipient)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} delivered message(s){f' for {recipient}' if recipient else ''}, "
                    f"found {len(found)} within {timeout} s; Postfix logged:\n{self.postfix_log()[-4000:]}"
                )
            time.sleep(0.05)

    def wait_until_idle(self, timeout: float = 15) -> None:
        """Wait until Postfix's queue is empty: everything it took has been delivered or dropped."""
        queue = self.root / "postfix-queue"
        deadline = time.monotonic() + timeout
        while any(
            path.is_file()
            for name in ("maildrop", "incoming", "active", "deferred", "hold")
            for path in (queue / name).rglob("*")
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"Postfix's queue did not empty in {timeout} s:\n{self.postfix_log()}")
            time.sleep(0.05)

    def wait_until_sessions_end(self, timeout: float = 15) -> None:
        """Wait until smtpd logged the end of every connection it logged, so that no line of a
        session still closing lands in the next test's log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self._read("postfix")
            opened = len(re.findall(r"\]: connect from ", log))
            if opened == len(re.findall(r"\]: disconnect from ", log)):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{opened} SMTP sessions, not all of them ended in {timeout} s:\n{log}")
            time.sleep(0.05)

    def postfix_log(self) -> str:
        """What Postfix logged since the last reset()."""
        return self._read("postfix")[self._log_offsets["postfix"] :]

    def dovecot_log(self) -> str:
        """What Dovecot logged since the last reset()."""
        return self._read("dovecot")[self._log_offsets["dovecot"] :]

    def wait_for_log(
        self, pattern: str, log: str = "postfix", timeout: float = 10, *, count: int = 1
    ) -> re.Match:
        """Wait until `count` lines matching the regular expression have appeared in that log since the
        last reset(); the first of them."""
        deadline = time.monotonic() + timeout
        read = self.postfix_log if log == "postfix" else self.dovecot_log
        while True:
            matches = list(re.finditer(pattern, read(), re.M))
            if len(matches) >= count:
                return matches[0]
            if time.monotonic() > deadline:
                seen = f"{len(matches)} of {count} lines matching {pattern!r}"
                raise AssertionError(f"{log} logged {seen} in {timeout} s:\n{read()}")
            time.sleep(0.05)

    def _read(self, log: str) -> str:
        path = self.root / "log" / f"{log}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def reset(self) -> None:
        """Let sessions end and queued mail finish, empty the Maildirs, take every recipient again,
        forget failed logins, and start the logs afresh."""
        self.wait_until_sessions_end()
        self.wait_until_idle()
        if "Password mismatch" in self.dovecot_log() or "authentication failed" in self.postfix_log():
            self.restart_dovecot()
        if self._replies:
            self._replies.clear()
            self._write_replies()
        shutil.rmtree(self.root / "maildir" / DOMAIN, ignore_errors=True)
        self._log_offsets = {log: len(self._read(log)) for log in self._log_offsets}


def _end_process_group(pgid: int, grace: float) -> None:
    """Kill what is left of a process group we started, after grace seconds (a leader that exited may
    leave children: Dovecot's auth process, say, serves the clients still connected to it)."""
    deadline = time.monotonic() + grace
    while _living_members(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.05)


def _living_members(pgid: int) -> list[int]:
    """The processes of a group that still run: zombies wait for their reaper, they do nothing."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture(scope="session")
def mta_instance(smtp_ca):
    """Postfix and Dovecot, started once for this pytest process; skipped (failed in CI) without them."""
    problem = unavailable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Postfix and Dovecot: {problem}")
        pytest.skip(problem)
    # Installed but failing to start is a fault of the harness or the machine: an error, never a skip.
    server = MailServer(smtp_ca.certificates["good"].chain_file, smtp_ca.ca_file).start()
    yield server
    server.stop()


@pytest.fixture
def mta(mta_instance) -> MailServer:
    """The Postfix and Dovecot instance, with empty Maildirs and logs, every recipient taken again."""
    mta_instance.reset()
    yield mta_instance
    mta_instance.reset()
