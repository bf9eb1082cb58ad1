"""Writing an outcome the SMTP server already gave until the database takes it.

Once a server has accepted a mail, the only way to send it twice is to lose the fact: a row left
"sending" is claimed again when its lease runs out. So a database error (a dropped connection, a
restart, SQLite locked past its busy timeout) while recording it does not end the delivery: the fact is
kept in memory and written again, with a growing pause, until it is stored. Only a worker killed while
it holds such a fact loses it (docs/deploy.md, "Delivery workers", tells that window).
"""

import contextlib
import logging
import time

from peewee import InterfaceError, OperationalError

from ..store.db import db

log = logging.getLogger(__name__)

FIRST_PAUSE = 0.2
LONGEST_PAUSE = 2.0


def held_until_written(write, what: str, *, sleep=time.sleep):
    """write() until it gets through a database error, each retry on a new connection; its result."""
    pause, failures = FIRST_PAUSE, 0
    while True:
        try:
            result = write()
        except (OperationalError, InterfaceError) as error:
            if failures == 0:
                log.warning("%s: the outcome could not be recorded (%s); kept, retrying", what, error)
            failures += 1
            with contextlib.suppress(Exception):
                db.close()  # a broken connection is dropped; the next write opens another
            sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        if failures:
            log.warning("%s: the outcome was recorded after %d retries", what, failures)
        return result
