"""A gunicorn entry point: our app with candidate changes from profile_hot_paths.py applied in-process.

Nothing in the product is edited: the changes are the same monkeypatches the profiler's what-if table
measures, so compare_peers.py can show their effect end to end before anyone writes them for real:

    .venv/bin/python bench/compare_peers.py --ours-via whatif                 # every code change
    .venv/bin/python bench/compare_peers.py --ours-via whatif --ours-env BENCH_WHATIF=connection

BENCH_WHATIF names the changes (comma-separated): connection, one-query, all (the default).
"""

import contextlib
import os

import profile_hot_paths as hot_paths

from exastro_mail import create_app

CHANGES = {
    "connection": hot_paths.keep_sqlite_connection,
    "one-query": hot_paths.org_and_settings_in_one_query,
}


def create():
    """The app as `wsgi:app` builds it, with the chosen changes kept applied for the worker's life."""
    app = create_app()
    chosen = os.environ.get("BENCH_WHATIF", "all")
    names = list(CHANGES) if chosen == "all" else [name.strip() for name in chosen.split(",")]
    stack = contextlib.ExitStack()
    for name in names:
        with contextlib.suppress(hot_paths.AlreadyInProduct):
            stack.enter_context(CHANGES[name](app))
    app.extensions["bench.whatif"] = stack  # held for the life of the worker
    return app
