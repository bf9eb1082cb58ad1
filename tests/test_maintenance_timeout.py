"""init-db, export and import wait on the database as long as maintenance takes; pages keep their few
seconds (store/maintenance.py)."""

import pytest
from peewee import DatabaseError

from exastro_mail.store.db import db
from exastro_mail.store.maintenance import maintenance_deadline
from tests.conftest import build_app
from tests.engine_fixtures import ENGINE

SLEEP = {"postgres": "SELECT pg_sleep(1.5)", "mariadb": "SELECT SLEEP(1.5)"}


@pytest.mark.only_on("postgres", "mariadb")  # SQLite has no server to wait on
def test_a_statement_longer_than_a_page_may_wait_runs_within_the_maintenance_deadline(tmp_path):
    app = build_app(tmp_path, DATABASE_TIMEOUT=1, MAINTENANCE_DATABASE_TIMEOUT=10)
    with app.app_context():
        with pytest.raises(DatabaseError):  # a page's deadline: given up after 1 s
            db.execute_sql(SLEEP[ENGINE]).fetchall()
        db.close()
        with maintenance_deadline(app):
            assert len(db.execute_sql(SLEEP[ENGINE]).fetchall()) == 1
        with pytest.raises(DatabaseError):  # and the page's deadline again after it
            db.execute_sql(SLEEP[ENGINE]).fetchall()


@pytest.mark.only_on("sqlite")
def test_on_sqlite_maintenance_waits_as_long_for_another_writer(tmp_path):
    # Another instance's init-db migrating the same file holds its write lock for minutes.
    app = build_app(tmp_path, MAINTENANCE_DATABASE_TIMEOUT=600)
    with app.app_context():
        assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (10_000,)  # a page's wait
        with maintenance_deadline(app):
            assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (600_000,)
        assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (10_000,)


def test_the_maintenance_deadline_must_be_a_positive_number(tmp_path):
    from exastro_mail.config import ConfigError

    with pytest.raises(ConfigError, match="EXASTRO_MAIL_MAINTENANCE_DATABASE_TIMEOUT"):
        build_app(tmp_path, MAINTENANCE_DATABASE_TIMEOUT="soon")
