"""What the simulator asks the server after sending: is everything in, and what are the scores."""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow.dataset as ds

__all__ = [
    "HealthApiMissing",
    "fetch_scores",
    "health_api_present",
    "lake_message_ids",
    "put_competitors",
    "put_feedback_text",
    "put_key_features",
    "put_weights",
    "read_config",
    "refresh_health",
    "usage_drivers",
    "wait_for_lake",
    "wait_for_responses",
    "wait_for_traits",
]


class HealthApiMissing(SystemExit):
    def __init__(self, route: str) -> None:
        super().__init__(
            f"the health API is not on this server ({route} answered 404): it is specified in "
            "docs/health.md and built in backend/cxloop/health/. Nothing was scored; no AUC."
        )


def _bearer(secret_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret_key}"}


def health_api_present(url: str, secret_key: str) -> None:
    """Fail before sending anything when the server has no health API."""
    answer = httpx.get(f"{url}/v1/health/config", headers=_bearer(secret_key), timeout=30)
    if answer.status_code == 404:
        raise HealthApiMissing("GET /v1/health/config")
    answer.raise_for_status()


def read_config(url: str, secret_key: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v1/health/config", headers=_bearer(secret_key), timeout=30)
    config: dict[str, Any] = answer.raise_for_status().json()
    return config


def _update_config(url: str, secret_key: str, **changes: Any) -> None:
    config = read_config(url, secret_key) | changes
    answer = httpx.put(
        f"{url}/v1/health/config", headers=_bearer(secret_key), json=config, timeout=30
    )
    answer.raise_for_status()


def put_key_features(url: str, secret_key: str, features: list[str]) -> None:
    _update_config(url, secret_key, key_features=features)


def put_weights(url: str, secret_key: str, weights: dict[str, float]) -> None:
    _update_config(url, secret_key, weights=weights)


def put_feedback_text(url: str, secret_key: str, on: bool) -> None:
    """Whether the health score's feedback component reads the comments' analysis."""
    _update_config(url, secret_key, feedback_text=on)


def put_competitors(url: str, secret_key: str, names: list[str]) -> bool:
    """List the product's competitors in the project's insights configuration, so comments
    naming them are flagged; False when the server has no insights configuration route."""
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=30) as client:
        answer = client.get("/v1/insights/config")
        if answer.status_code == 404:
            return False
        config: dict[str, Any] = answer.raise_for_status().json()
        document = config.get("config", config)
        document = {**document, "competitors": names}
        client.put("/v1/insights/config", json=document).raise_for_status()
    return True


def wait_for_traits(
    url: str, secret_key: str, account_ids: list[str], timeout: float = 120
) -> None:
    """Wait until every account shows ``status: "churned"`` (the projection has it)."""
    deadline = time.monotonic() + timeout
    pending = list(account_ids)
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=30) as client:
        while pending:
            answer = client.get(f"/v1/accounts/{pending[0]}")
            if answer.status_code == 200 and answer.json()["traits"].get("status") == "churned":
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(pending)} accounts never showed status=churned")
            time.sleep(0.5)


def lake_message_ids(data_dir: Path, project_id: str) -> list[str]:
    """Every messageId of the project in the Parquet lake (duplicates kept, to be counted)."""
    directory = data_dir / "lake" / "events" / f"project_id={quote(project_id, safe='')}"
    if not directory.is_dir():
        return []
    dataset = ds.dataset(
        directory, format="parquet", partitioning="hive", exclude_invalid_files=True
    )
    if not dataset.files:  # the first segment is still on its way
        return []
    ids: list[str] = dataset.to_table(columns=["message_id"]).column("message_id").to_pylist()
    return ids


def wait_for_lake(
    data_dir: Path, project_id: str, sent: Collection[str], timeout: float = 600
) -> list[str]:
    """Wait until every sent messageId is in the lake; returns what the lake holds."""
    expected = set(sent)
    deadline = time.monotonic() + timeout
    while True:
        ids = lake_message_ids(data_dir, project_id)
        if len(ids) >= len(expected) and expected <= set(ids):
            return ids
        if time.monotonic() > deadline:
            missing = len(expected - set(ids))
            raise SystemExit(f"{missing} of {len(expected)} sent events never reached the lake")
        time.sleep(1.0)


def _count_responses(client: httpx.Client) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/responses", params=params).raise_for_status().json()
        count += len(page["responses"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def wait_for_responses(url: str, secret_key: str, expected: int, timeout: float = 600) -> int:
    """Wait until PostgreSQL holds every survey response sent (the projection has caught up)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=60) as client:
        while True:
            count = _count_responses(client)
            if count >= expected:
                return count
            if time.monotonic() > deadline:
                raise SystemExit(f"only {count} of {expected} survey responses were projected")
            time.sleep(1.0)


def refresh_health(url: str, secret_key: str, attempts: int = 20) -> dict[str, Any]:
    """``POST /v1/health/refresh``: scores that include every event acked before the call."""
    analysis_waits = 0
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=900) as client:
        for _ in range(attempts):
            answer = client.post("/v1/health/refresh")
            if answer.status_code == 404:
                raise HealthApiMissing("POST /v1/health/refresh")
            if answer.status_code == 503 and answer.json().get("code") == "analysis_behind":
                # The comments are not analysed yet (it waited already): once more at most.
                analysis_waits += 1
                if analysis_waits > 1:
                    raise SystemExit(
                        "the server's comments stay unanalysed, so health will not score them "
                        f"(is the pipeline's comment analysis running?): {answer.text}"
                    )
                continue
            if answer.status_code in (429, 503):  # the pipeline is behind: give it time
                time.sleep(float(answer.headers.get("Retry-After", "5")))
                continue
            answer.raise_for_status()
            result: dict[str, Any] = answer.json()
            return result
    raise SystemExit(f"POST /v1/health/refresh kept answering {answer.status_code}: {answer.text}")


def fetch_scores(url: str, secret_key: str) -> dict[str, dict[str, Any]]:
    """Every account's current health from ``GET /v1/accounts``, page by page."""
    scores: dict[str, dict[str, Any]] = {}
    cursor = None
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=120) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
            answer = client.get("/v1/accounts", params=params)
            if answer.status_code == 404:
                raise HealthApiMissing("GET /v1/accounts")
            page = answer.raise_for_status().json()
            for account in page["accounts"]:
                scores[account["account_id"]] = {
                    k: account.get(k) for k in ("score", "band", "confidence")
                }
            cursor = page.get("next_cursor")
            if not cursor:
                return scores


def usage_drivers(url: str, secret_key: str) -> tuple[dict[str, Any], float]:
    """``GET /v1/insights/drivers/usage`` (NPS, the last 180 days, key features) and the
    seconds it took."""
    with httpx.Client(base_url=url, headers=_bearer(secret_key), timeout=300) as client:
        started = time.perf_counter()
        answer = client.get("/v1/insights/drivers/usage")
        seconds = time.perf_counter() - started
    body: dict[str, Any] = answer.raise_for_status().json()
    return body, seconds
