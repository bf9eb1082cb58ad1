"""Speaking SMTP, without Flask: the endpoint and its TLS, the session (transport), why a delivery
stopped (errors), the test-mail diagnosis as facts, and the host policy. Translated words are built
above, in mailserver/."""
