"""One verified TLS context per set of trusted CAs, shared by the connections that trust the same: the
system store is read once, not on every test mail and delivery batch; a renewed CA file is read again."""

import os
import ssl

import trustme

from exastro_mail.smtp.trust import trust_context


def test_the_same_trust_gives_the_same_verifying_context(smtp_ca):
    first = trust_context(ca_file=smtp_ca.ca_file, ca_pem=smtp_ca.ca_pem)
    assert trust_context(ca_file=smtp_ca.ca_file, ca_pem=smtp_ca.ca_pem) is first
    assert trust_context() is trust_context(None, "")  # no extra CA, however it is said
    assert trust_context() is not first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert first.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_renewed_ca_file_is_read_again(tmp_path):
    path = tmp_path / "ca.pem"
    old_ca, new_ca = trustme.CA(), trustme.CA()
    old_ca.cert_pem.write_to_path(str(path))
    before = trust_context(ca_file=str(path))
    new_ca.cert_pem.write_to_path(str(path))
    os.utime(path, ns=(1, 1))  # a different modification time, however fast the rewrite was
    after = trust_context(ca_file=str(path))
    assert after is not before
    assert subjects(after) != subjects(before)
    assert trust_context(ca_file=str(path)) is after


def subjects(context: ssl.SSLContext) -> set:
    return {str(cert["subject"]) for cert in context.get_ca_certs()}
