"""A throw-away cxloop for the console benchmark: ``cxloop serve`` on an embedded PostgreSQL in a
temporary directory (bench/simulate/server.py), a project and its owner made by the real CLI, and
a large portfolio seeded by bench/seed_portfolio.py. Prints one JSON line (url, console_url,
project_id, keys, people.owner, seed seconds), then keeps everything running until stdin closes.

    .venv/bin/python console/bench/stack.py --accounts 5000 --days 90 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from seed_portfolio import main as _unused  # noqa: E402,F401  (fails early when it is missing)
from simulate.server import create_project, local_server  # noqa: E402

EMAIL = "owner@bench.test"
PASSWORD = "correct horse battery"  # noqa: S105  (a throw-away benchmark stack)


def _cli(database_url: str, *args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["DATABASE_URL"] = database_url
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"cxloop {' '.join(args)} failed:\n{out.stderr or out.stdout}")
    return out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with local_server() as server:
        keys = create_project(server.database_url, "bench")
        _cli(
            server.database_url, "users", "create", EMAIL, "--name", "Bench Owner",
            "--project", keys.id, "--role", "owner", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable, str(REPO / "bench" / "seed_portfolio.py"),
                "--database-url", server.database_url, "--project-id", keys.id,
                "--accounts", str(args.accounts), "--days", str(args.days),
                "--seed", str(args.seed),
            ],
            check=True,
            stdout=sys.stderr,
        )  # fmt: skip
        seeded = time.monotonic() - started
        line = {
            "url": server.url,
            "console_url": f"{server.url}/console/",
            "project_id": keys.id,
            "write_key": keys.write_key,
            "secret_key": keys.secret_key,
            "people": {"owner": {"email": EMAIL, "password": PASSWORD}},
            "accounts": args.accounts,
            "days": args.days,
            "seed_seconds": round(seeded, 1),
        }
        print(json.dumps(line), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin (or exits)


if __name__ == "__main__":
    main()
