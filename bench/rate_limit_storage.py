"""What the rate limit's storage costs a forgot-password POST, in-process (CPU ms per POST).

    .venv/bin/python bench/rate_limit_storage.py [--posts 500] [--rounds 2]

database:// (the default: every process and instance counts together) against memory:// (each process
on its own), in alternating rounds, each on a fresh app and SQLite file built as the test suite builds
them (tests/conftest.py), with the per-client limit raised out of reach.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import build_app, make_org, make_user  # noqa: E402
from tests.outbox_helpers import point_settings_at  # noqa: E402


class NoServer:
    """Settings need a server; nothing is sent here (no worker runs)."""

    host, port = "127.0.0.1", 2525


def cpu_ms_per_post(storage: str, posts: int) -> float:
    app = build_app(
        Path(tempfile.mkdtemp(prefix="exm-rl-")),
        RATELIMIT_STORAGE_URI=storage,
        RESET_LIMIT_PER_CLIENT="1000000 per 5 minutes",
    )
    with app.app_context():
        organization = make_org()
        make_user(organization, "alice")
        point_settings_at(app, organization, NoServer)
    client = app.test_client()
    for _ in range(50):  # warm-up
        client.post("/acme/forgot-password", data={"identifier": "alice"})
    started = time.process_time()
    for _ in range(posts):
        answer = client.post("/acme/forgot-password", data={"identifier": "alice"})
        assert answer.status_code == 200, answer.status_code
    return (time.process_time() - started) / posts * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_number in range(1, args.rounds + 1):
        for storage in ("database://", "memory://"):
            cost = cpu_ms_per_post(storage, args.posts)
            print(f"round {round_number}: {storage:12} {cost:.3f} ms CPU per POST")


if __name__ == "__main__":
    main()
