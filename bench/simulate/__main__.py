"""Simulate SaaS accounts with known churn, send them through the real ingest API, score them
with the health API and report the ROC AUC of the score against churn, with baselines.

    python -m bench.simulate --accounts 400 --days 120 --seed 1 [--holdout-seed 2 3]
    python -m bench.simulate --url http://127.0.0.1:8000 --write-key wk_… --secret-key sk_…

Without --url a fresh `cxloop serve` runs on an embedded PostgreSQL in a temporary directory
(one project per population). Loopback only. The result is also written to bench/results/.

Each population is scored twice in the same run: with the health feedback component reading
ratings only (feedback_text off: "before") and also the comments' words (on: "after").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import api
from .comments import COMPETITORS
from .drive import drive, require_loopback
from .evaluate import evaluate, format_report
from .model import ARCHETYPES, DEFAULT_MIX, KEY_FEATURES, SimConfig, generate, is_usage
from .server import LocalServer, ProjectKeys, create_project, local_server

RESULTS = Path(__file__).resolve().parent.parent / "results"


def parse_mix(text: str) -> dict[str, float]:
    """``declining=0.1,silent=0.08``: shares that replace the defaults' (then renormalised)."""
    mix = dict(DEFAULT_MIX)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, share = item.partition("=")
        if name not in ARCHETYPES:
            raise argparse.ArgumentTypeError(
                f"unknown archetype {name!r}; known: {', '.join(ARCHETYPES)}"
            )
        try:
            mix[name] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: write archetype=share") from None
    return mix


def _counting(events: Iterable[dict[str, Any]], counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    for event in events:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
        if event.get("event") == "Survey Responded":
            counts["survey_responses"] = counts.get("survey_responses", 0) + 1
        if is_usage(event):
            counts["usage"] = counts.get("usage", 0) + 1
        yield event


def run_population(
    args: argparse.Namespace,
    seed: int,
    url: str,
    keys: ProjectKeys,
    data_dir: Path | None,
    title: str,
) -> dict[str, Any]:
    api.health_api_present(url, keys.secret_key)
    config = SimConfig(accounts=args.accounts, days=args.days, seed=seed, mix=args.mix)
    population = generate(config)
    if args.configure_key_features:
        api.put_key_features(url, keys.secret_key, list(KEY_FEATURES))
    # Before any comment arrives, so each is analysed once, with the competitors listed.
    if not api.put_competitors(url, keys.secret_key, list(COMPETITORS)):
        print(f"[{title}] no insights configuration on this server: competitors not listed")
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    print(f"[{title}] sending {args.accounts} accounts × {args.days} days (seed {seed}) …")
    sent = asyncio.run(
        drive(
            url,
            keys.write_key,
            _counting(population.events(), counts),
            concurrency=args.concurrency,
            use_gzip=args.gzip,
        )
    )
    timings["generate_and_send_s"] = round(sent.seconds, 1)
    print(
        f"[{title}] {sent.events:,} events in {sent.batches:,} batches, all accepted, "
        f"{sent.seconds:.1f} s ({sent.events_per_second:,.0f} events/s, {sent.retries} retries)"
    )

    started = time.perf_counter()
    if data_dir is not None:
        ids = api.wait_for_lake(data_dir, keys.id, sent.message_ids)
        if len(ids) != len(set(ids)) or len(ids) != sent.events:
            raise SystemExit(f"the lake holds {len(ids)} rows for {sent.events} events sent")
        print(f"[{title}] every event is in the lake exactly once")
    responses = api.wait_for_responses(url, keys.secret_key, counts.get("survey_responses", 0))
    timings["wait_ingested_s"] = round(time.perf_counter() - started, 1)

    # Before: ratings only (the score before issue 15), in the same run as after.
    api.put_feedback_text(url, keys.secret_key, False)
    started = time.perf_counter()
    refreshed = api.refresh_health(url, keys.secret_key)
    timings["refresh_s"] = round(time.perf_counter() - started, 1)
    before = evaluate(population, api.fetch_scores(url, keys.secret_key), seed=seed)
    api.put_feedback_text(url, keys.secret_key, True)
    started = time.perf_counter()
    api.refresh_health(url, keys.secret_key)
    timings["refresh_with_words_s"] = round(time.perf_counter() - started, 1)
    # Not in the contract, shown when present: on a fresh project every day is rolled up.
    rolled = refreshed.get("rollup", {}).get("events")
    if rolled is not None:
        usage = counts.get("usage", 0)
        note = "" if rolled == usage else " (differs: was this project refreshed before?)"
        print(f"[{title}] the refresh rolled up {rolled:,} usage events of {usage:,} sent{note}")
    scores = api.fetch_scores(url, keys.secret_key)
    evaluation = evaluate(population, scores, seed=seed)
    print(format_report(f"{title} (seed {seed})", evaluation, target=args.target))
    print(
        f"[{title}] ROC AUC without the comments' words (feedback_text off): {before.auc:.3f}; "
        f"with them: {evaluation.auc:.3f}; ceiling {evaluation.ceiling:.3f}"
    )

    drivers: dict[str, Any] | None = None
    if args.drivers:
        answer, seconds = api.usage_drivers(url, keys.secret_key)
        top = [
            f"{f['feature']} {100 * f['share_of_r2']:.0f}% ({f['difference']:+.1f})"
            for f in answer["features"]
            if f["rank"] is not None
        ][:3]
        print(
            f"[{title}] usage drivers of NPS over {answer['raters']} raters in {seconds:.2f} s: "
            f"R² {answer['r_squared']}, first {', '.join(top) or 'none ranked'}"
        )
        drivers = {"seconds": round(seconds, 3), "answer": answer}

    if args.mark_churned or (args.calibrate and title == "main"):
        churned = population.mark_churned()
        asyncio.run(drive(url, keys.write_key, churned, concurrency=1))
        api.wait_for_traits(url, keys.secret_key, [e["groupId"] for e in churned])
        print(f"[{title}] marked {len(churned)} churners status=churned (for calibration)")

    account_days = sum(min(a.starts_days_ago + 1, args.days) for a in population.accounts)
    return {
        "seed": seed,
        "project_id": keys.id,
        "holiday_days_ago": list(population.holiday_days_ago),
        "events": counts,
        "events_sent": sent.events,
        "events_per_account_day": round(sent.events / account_days, 2),
        "survey_responses_projected": responses,
        "batches": sent.batches,
        "body_bytes": sent.body_bytes,
        "retries": sent.retries,
        "refresh": refreshed,
        "timings": timings,
        "evaluation": evaluation.as_dict(),
        "evaluation_without_words": before.as_dict(),
        "usage_drivers": drivers,
    }


def calibrate(server: LocalServer, keys: ProjectKeys) -> dict[str, Any]:
    """``cxloop score --calibrate --apply`` on the main project; returns its fitted weights."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env |= {"DATABASE_URL": server.database_url, "CXLOOP_DATA_DIR": str(server.data_dir)}
    command = ["score", "--calibrate", "--apply", "--project", keys.id]
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(out.stdout.rstrip())
    if out.returncode != 0 or "saved as the project's weights" not in out.stdout:
        raise SystemExit(f"cxloop {' '.join(command)} did not calibrate:\n{out.stderr}")
    weights = api.read_config(server.url, keys.secret_key)["weights"]
    return {"output": out.stdout, "weights": weights}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.simulate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--holdout-seed",
        type=int,
        nargs="+",
        help="also score independent populations (one project each)",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=dict(DEFAULT_MIX),
        help="archetype shares, e.g. declining=0.1,silent=0.08 (defaults: "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_MIX.items())
        + ")",
    )
    parser.add_argument("--url", help="an already running cxloop (loopback); needs both keys")
    parser.add_argument("--write-key")
    parser.add_argument("--secret-key")
    parser.add_argument("--project-id", help="with --url and --data-dir: to check the lake")
    parser.add_argument("--data-dir", type=Path, help="with --url: that server's data dir")
    parser.add_argument("--database-url", help="PostgreSQL for the local server (else embedded)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--gzip", action="store_true", help="gzip the batches")
    parser.add_argument(
        "--configure-key-features",
        action="store_true",
        help="set the product's key features in the health config (default: the score's own "
        "choice, the features most accounts use)",
    )
    parser.add_argument(
        "--mark-churned",
        action="store_true",
        help="after scoring, send status=churned group traits for the churners",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="with --holdout-seed: mark the main population's churners, fit the weights to them "
        "(cxloop score --calibrate --apply) and score the held-out population with those weights",
    )
    parser.add_argument(
        "--drivers",
        action="store_true",
        help="after scoring, time GET /v1/insights/drivers/usage on the population",
    )
    parser.add_argument("--target", type=float, default=0.85)
    args = parser.parse_args(argv)
    if args.calibrate and (args.holdout_seed is None or args.url):
        parser.error("--calibrate needs --holdout-seed and the simulator's own server (no --url)")

    results: dict[str, Any] = {
        "command": "python -m bench.simulate "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "mix": args.mix,
        "configure_key_features": args.configure_key_features,
        "calibrate": args.calibrate,
        "populations": {},
    }
    if args.url:
        if not (args.write_key and args.secret_key):
            parser.error("--url needs --write-key and --secret-key (cxloop projects create)")
        if args.holdout_seed is not None:
            parser.error(
                "a held-out population needs a project of its own: run a second time with "
                "--seed N and that project's keys"
            )
        require_loopback(args.url)
        keys = ProjectKeys(args.project_id or "", args.write_key, args.secret_key)
        data_dir = args.data_dir if args.project_id else None
        results["populations"]["main"] = run_population(
            args, args.seed, args.url.rstrip("/"), keys, data_dir, "main"
        )
    else:
        with local_server(args.database_url) as server:
            print(f"cxloop serve at {server.url}, data in {server.data_dir}")
            runs = [("main", args.seed)]
            for holdout in args.holdout_seed or ():
                name = "holdout" if len(args.holdout_seed) == 1 else f"holdout-{holdout}"
                runs.append((name, holdout))
            weights: dict[str, float] | None = None
            for title, seed in runs:
                keys = create_project(server.database_url, f"simulate-{title}-{seed}")
                if weights is not None:
                    api.put_weights(server.url, keys.secret_key, weights)
                    print(f"[{title}] scored with the weights calibrated on the main population")
                results["populations"][title] = run_population(
                    args, seed, server.url, keys, server.data_dir, title
                )
                if args.calibrate and title == "main":
                    results["calibration"] = calibrate(server, keys)
                    weights = results["calibration"]["weights"]

    summary = {
        title: {
            "auc": run["evaluation"]["auc"],
            "auc_without_words": run["evaluation_without_words"]["auc"],
            "ceiling": run["evaluation"]["ceiling"],
            **{f"baseline_{k}": v for k, v in run["evaluation"]["baselines"].items()},
            "weights": "calibrated on main" if args.calibrate and title != "main" else "default",
        }
        for title, run in results["populations"].items()
    }
    results["summary"] = summary
    print("\nsummary:", json.dumps(summary))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"simulate-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
