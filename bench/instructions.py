"""Instructions per request on the hot paths, counted by valgrind's callgrind: the same number on a busy
machine as on a quiet one, so a change that saves 5 % shows up where timings would drown it.

Each page is requested in-process through the WSGI app (as profile_hot_paths.py does: CSRF on, limits
raised), once with no requests and once with --requests of them; the difference, divided, is one
request's instructions (the start-up and the first renders fall out). The Flask ceiling runs the same.

    apt-get install -y valgrind
    .venv/bin/python bench/instructions.py [--requests 400] [--pages "login page GET" ...]

About a minute per page and count on 2 cores (callgrind runs code some 50 times slower).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CEILING = "Flask ceiling, login page GET"
PAGES = ("login page GET", "forgot-password page GET", "forgot-password POST", CEILING)
WARM_UP = 50  # requests before counting starts in both runs: first renders, caches, connections


def requests_run(page: str, count: int) -> None:
    """The measured program: prepare the app, warm it up, then count requests of one page."""
    sys.path.insert(0, str(BENCH))
    import profile_hot_paths as hot

    if page == CEILING:
        app = hot.flask_ceiling_app()
        args, expected = {"path": f"/{hot.ORG}/login", "headers": {"Host": "127.0.0.1:8000"}}, 200
    else:
        app = hot.prepare(Path(tempfile.mkdtemp(prefix="exastro-instructions-")) / "instance")
        args, expected = hot.hot_paths(app)[page]
    for _ in range(WARM_UP + count):
        status = hot.request_once(app, args)
        if status != expected:
            raise SystemExit(f"{page} answered {status}, not {expected}")


def instructions(page: str, count: int) -> int:
    """Instructions callgrind counts for the whole measured program with count requests."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run",
            page,
            str(count),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed for {page}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests counted per page (default 400)")
    parser.add_argument("--pages", nargs="+", default=list(PAGES), choices=PAGES, metavar="PAGE")
    parser.add_argument("--run", nargs=2, metavar=("PAGE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        requests_run(args.run[0], int(args.run[1]))
        return 0
    print("| page | M instructions per request |")
    print("| --- | ---: |")
    for page in args.pages:
        per_request = (instructions(page, args.requests) - instructions(page, 0)) / args.requests
        print(f"| {page} | {per_request / 1e6:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
