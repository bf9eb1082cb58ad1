"""SMTP AUTH with a user name and password: one mechanism, chosen from what the server offers, tried once.

smtplib's login() tries every mechanism it knows until one succeeds, so a wrong password costs a
failed login per mechanism on the organization's server: with Dovecot's growing penalty the second
one waits out the deadline, and a few attempts can trip fail2ban or an account lockout. Here a 535
to the chosen mechanism is the answer.
"""

import smtplib

# The password mechanisms spoken, most preferred first: PLAIN takes one round trip, LOGIN two. Both send
# the password as it is, which TLS protects (and which a server offering AUTH in clear text allowed).
PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")


class NoCommonMechanism(smtplib.SMTPNotSupportedError):
    """The server offers AUTH, but none of the mechanisms this client speaks."""


def offered_mechanisms(client: smtplib.SMTP) -> list[str]:
    """The SASL mechanisms the server advertised in its last EHLO reply, upper case."""
    if not client.has_extn("auth"):
        return []
    return client.esmtp_features["auth"].upper().split()


def choose_mechanism(offered: list[str], spoken: tuple[str, ...] = PASSWORD_MECHANISMS) -> str:
    """The first of the spoken mechanisms that the server offers (NoCommonMechanism if none is)."""
    for mechanism in spoken:
        if mechanism in offered:
            return mechanism
    raise NoCommonMechanism(f"the server offers AUTH {' '.join(offered)}, none of {', '.join(spoken)}")


def authenticate_password(
    client: smtplib.SMTP, mechanism: str, username: str, password: str
) -> tuple[int, bytes]:
    """AUTH PLAIN or LOGIN, once: the server's (code, reply), or smtplib's SMTPAuthenticationError
    (a 535 among them) from that one attempt."""
    # smtplib's authobjects for PLAIN and LOGIN (documented) read the credentials from the client.
    authobject = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login}[mechanism]
    client.user, client.password = username, password
    try:
        return client.auth(mechanism, authobject, initial_response_ok=True)
    finally:
        client.user = client.password = None
