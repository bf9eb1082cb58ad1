"""What a database error means to the person reading the log: a server out of reach, or a schema
that was never made (`exastro-mail init-db` not run yet, or run on another database)."""

from peewee import OperationalError, ProgrammingError

POSTGRESQL_UNDEFINED_TABLE = "42P01"
POSTGRESQL_DEADLOCK_DETECTED = "40P01"
MYSQL_NO_SUCH_TABLE = 1146
MYSQL_DEADLOCK = 1213


def missing_table(error: Exception) -> bool:
    """Whether a peewee error says a table does not exist, on any of the three engines."""
    if not isinstance(error, OperationalError | ProgrammingError):
        return False
    # peewee raises its own error from the driver's, which carries the engine's code
    driver_error = error.__cause__ or error.__context__ or error
    if getattr(driver_error, "pgcode", None) == POSTGRESQL_UNDEFINED_TABLE:
        return True
    if driver_error.args and driver_error.args[0] == MYSQL_NO_SUCH_TABLE:
        return True
    return str(driver_error).startswith("no such table")  # SQLite


def deadlocked(error: Exception) -> bool:
    """Whether a peewee error says the server broke a deadlock by rolling this transaction back (the
    transaction may simply be tried again)."""
    if not isinstance(error, OperationalError):
        return False
    driver_error = error.__cause__ or error.__context__ or error
    if getattr(driver_error, "pgcode", None) == POSTGRESQL_DEADLOCK_DETECTED:
        return True
    return bool(driver_error.args) and driver_error.args[0] == MYSQL_DEADLOCK
