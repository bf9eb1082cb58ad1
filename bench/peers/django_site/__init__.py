"""Peer (c) of the benchmark: a minimal Django project with LoginView and PasswordResetView on SQLite."""
