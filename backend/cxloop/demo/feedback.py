"""Three months of a demo SaaS product's behaviour and ratings, for ``cxloop demo``.

Eighteen accounts on three plans, with English, Simplified and Traditional Chinese users, use
six features, see an NPS survey about once a month and a CSAT survey after exporting reports,
answer, dismiss or ignore them, and sometimes write a comment. The data has a story each insight
can find, told by construction and not by labels:

- exporting reports got slow three weeks ago: CSAT on ``reports-export`` and the comments about
  it turn, on every plan, while the rest holds;
- people who use alerts and dashboards rate higher (a usage driver), and ``alerts-digest`` is
  used by the same people as ``alerts`` (a correlated twin that must not get double credit);
- two accounts talk about leaving with ordinary scores (one in Chinese naming 神策, one in
  English naming Mixpanel): churn intent and competitor mentions;
- enterprise accounts are happier than starter ones (drill-down by plan).

Deterministic for a given ``now`` and ``seed``; nothing here is read back by the product.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cxloop.demo.simulation.model import CSMS

__all__ = ["DEMO_COMPETITORS", "STORY_ACCOUNTS", "STORY_FEATURES", "feedback_events"]

DEMO_COMPETITORS = ["Mixpanel", "Amplitude", "神策", "GrowingIO"]

Event = dict[str, Any]

# (account id, name, plan, locale of its people, seats, monthly revenue, mood, talks of leaving)
_ACCOUNTS: tuple[tuple[str, str, str, str, int, int, float, str | None], ...] = (
    ("acct_acme", "Acme Corp", "pro", "en-US", 12, 1200, 0.2, None),
    ("acct_globex", "Globex 环球", "pro", "zh-CN", 10, 1000, 0.6, None),
    ("acct_initech", "Initech", "starter", "en-US", 5, 250, -0.4, None),
    ("acct_northwind", "Northwind Freight", "pro", "en-GB", 15, 1500, 0.0, "en"),
    ("acct_xinghe", "星河零售", "pro", "zh-CN", 10, 1000, 0.1, "zh"),
    ("acct_yunfan", "云帆物流", "enterprise", "zh-CN", 30, 4500, 0.5, None),
    ("acct_taida", "台達精密", "enterprise", "zh-TW", 25, 4000, 0.4, None),
    ("acct_hexin", "和信診所", "starter", "zh-TW", 4, 200, -0.3, None),
    ("acct_umbrella", "Umbrella Health", "enterprise", "en-US", 50, 8000, 0.5, None),
    ("acct_stark", "Stark Studio", "starter", "en-US", 3, 150, -0.2, None),
    ("acct_lanting", "蓝亭教育", "starter", "zh-CN", 6, 300, -0.5, None),
    ("acct_wayne", "Wayne Logistics", "pro", "en-US", 20, 2000, 0.1, None),
    ("acct_soylent", "Soylent Foods", "pro", "en-GB", 8, 800, -0.1, None),
    ("acct_qingshan", "青山制造", "pro", "zh-CN", 14, 1400, 0.0, None),
    ("acct_hooli", "Hooli", "enterprise", "en-US", 60, 9000, 0.3, None),
    ("acct_yuanjing", "遠景設計", "pro", "zh-TW", 9, 900, 0.1, None),
    ("acct_vandelay", "Vandelay Imports", "starter", "en-US", 4, 200, -0.3, None),
    ("acct_jinhua", "金华电商", "starter", "zh-CN", 5, 250, -0.2, None),
)
# The accounts the story is about (the simulated portfolio around them has acct_<hex> ids).
STORY_ACCOUNTS = frozenset(a[0] for a in _ACCOUNTS)
_PLAN_MOOD = {"starter": -0.5, "pro": 0.0, "enterprise": 0.6}
_FEATURES = ("dashboards", "reports", "reports-export", "alerts", "alerts-digest", "integrations")
# The story's features, for the usage drivers the demo shows: which features count as "key" is
# otherwise the busiest of the last 30 days, and the simulated portfolio's features outnumber
# these on some days, so the story's drivers would come and go with the calendar.
STORY_FEATURES = _FEATURES
_PAGES = {"dashboards": "/dashboards", "reports": "/reports", "reports-export": "/reports",
          "alerts": "/alerts", "alerts-digest": "/alerts", "integrations": "/settings/integrations"}  # fmt: skip
_ROLES = ("admin", "analyst", "analyst", "viewer")
_DAYS = 84
_SLOW_EXPORTS_DAYS = 21  # exporting reports got slow this many days ago

# Comment templates by language and what the comment is about. {feature} is filled in.
_COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "praise_dashboards": (
            "The dashboards are great, the whole team checks them every morning.",
            "Love how easy it is to build a dashboard.",
            "Dashboards just work 👍",
        ),
        "praise_alerts": (
            "Alerts save us hours every week.",
            "The alert digest is exactly what we needed.",
            "Alerts caught a problem before our customers did. Brilliant.",
        ),
        "praise_support": (
            "Support answered within an hour, really helpful.",
            "Great support team, thanks!",
        ),
        "export_slow": (
            "Exporting reports takes forever now, it used to be instant.",
            "Report exports are so slow lately, please fix.",
            "The CSV export times out on big reports since the last update.",
        ),
        "pricing": (
            "Too expensive for a small team like ours.",
            "The price went up but the product didn't.",
        ),
        "reliability": (
            "The integrations keep breaking after every update.",
            "Sync failed twice this week, we lost data.",
        ),
        "usability": ("Hard to find where the settings are.", "The report editor is confusing."),
        "onboarding": ("Onboarding new colleagues is hard, the docs are thin.",),
        "feature_request": ("Please add a dark mode.", "Would love scheduled exports to Slack."),
        "ok": ("It does the job.", "Fine overall.", "ok"),
        "leaving": (
            "We are evaluating Mixpanel and will probably not renew.",
            "If exports stay this slow we will switch to Mixpanel at renewal.",
            "Honestly thinking about moving to another tool.",
        ),
    },
    "zh-CN": {
        "praise_dashboards": (
            "仪表盘非常好用，团队每天早上都看。",
            "做看板很方便，赞！",
            "dashboard 很好用 👍",
        ),
        "praise_alerts": ("告警功能每周帮我们节省好几个小时。", "告警摘要正是我们需要的。"),
        "praise_support": ("客服响应很快，问题当天就解决了。", "技术支持很专业，谢谢！"),
        "export_slow": (
            "导出报表太慢了，以前几秒就好。",
            "最近报表导出特别慢，经常超时。",
            "导出 CSV 老是卡住，影响我们月底对账。",
        ),
        "pricing": ("价格太贵，我们用到的功能很少。", "续费涨价太多了。"),
        "reliability": ("集成每次更新后都会出问题。", "数据同步经常失败。"),
        "usability": ("设置入口太难找了。", "报表编辑器不太好用。"),
        "onboarding": ("新同事上手很难，文档太少。",),
        "feature_request": ("希望能支持暗色模式。", "希望可以定时导出到企业微信。"),
        "ok": ("还行吧。", "能用。", "总体还可以"),
        "leaving": (
            "导出太慢了，我们正在考虑换别的工具。",
            "我们在试用神策，到期可能就不续费了。",
            "再这样下去只能换神策了。",
        ),
    },
    "zh-TW": {
        "praise_dashboards": ("儀表板非常好用，團隊每天都在看。", "做報表很方便，讚！"),
        "praise_alerts": ("告警功能每週幫我們省下好幾個小時。",),
        "praise_support": ("客服回覆很快，問題當天就解決了。",),
        "export_slow": ("匯出報表太慢了，以前幾秒就好。", "最近報表匯出常常逾時。"),
        "pricing": ("價格太貴了，我們用到的功能不多。",),
        "reliability": ("整合每次更新後都會出問題。",),
        "usability": ("設定的入口很難找。",),
        "onboarding": ("新同事上手很難，文件太少。",),
        "feature_request": ("希望可以支援深色模式。",),
        "ok": ("還可以。", "能用。"),
        "leaving": ("我們正在評估其他工具，可能不會續約。",),
    },
}


def _language(locale: str) -> str:
    return "en" if locale.startswith("en") else locale


def feedback_events(
    surveys: dict[str, str], now: datetime | None = None, seed: int = 15
) -> list[Event]:
    """The demo's behaviour and ratings, oldest first. ``surveys`` maps ``nps`` and ``csat``
    to the ids of the demo project's surveys."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    events: list[Event] = []

    def add(at: datetime, **event: Any) -> None:
        events.append({"messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                       "timestamp": at.isoformat(), **event})  # fmt: skip

    start = now - timedelta(days=_DAYS)
    for number, (account_id, name, plan, locale, seats, mrr, mood, leaving) in enumerate(_ACCOUNTS):
        csm = CSMS[number % len(CSMS)]  # not from rng: the story stays what it was
        renewal = (now + timedelta(days=rng.randint(10, 200))).date().isoformat()
        people = max(3, min(8, seats // 2))
        for index in range(people):
            user_id = f"u_{account_id[5:]}_{index + 1}"
            role = _ROLES[index % len(_ROLES)]
            context: dict[str, Any] = {"groupId": account_id, "locale": locale}
            add(start, type="identify", userId=user_id,
                traits={"email": f"{user_id}@example.com", "role": role}, context=context)  # fmt: skip
            add(start + timedelta(minutes=1), type="group", userId=user_id, groupId=account_id,
                traits={"name": name, "plan": plan, "seats": seats, "mrr": mrr,
                        "renewal_date": renewal, "csm": csm}, context=context)  # fmt: skip
            # What this person uses: alerts users mostly use the digest too (a correlated twin).
            uses = {f: rng.random() < p for f, p in zip(
                _FEATURES, (0.85, 0.8, 0.5, 0.45, 0.0, 0.35), strict=True)}  # fmt: skip
            uses["alerts-digest"] = uses["alerts"] and rng.random() < 0.85
            person_mood = mood + _PLAN_MOOD[plan] + rng.gauss(0, 0.5)
            person_mood += 0.9 * uses["alerts"] + 0.5 * uses["dashboards"] - 0.3
            next_nps = rng.randint(0, 30)
            for day in range(_DAYS):
                moment = start + timedelta(days=day)
                away = rng.random() < 0.15  # drawn on weekends too: the story is the same any day
                if moment.weekday() >= 5 or away:
                    continue
                hour = 2 if locale.startswith("zh") else 15
                at = moment.replace(hour=hour, minute=0, second=0, microsecond=0)
                at += timedelta(minutes=rng.randint(0, 300))
                slow = (now - at).days < _SLOW_EXPORTS_DAYS
                add(at, type="page", userId=user_id, name="Dashboard",
                    properties={"path": "/dashboards"},
                    context={**context, "page": {"path": "/dashboards"}})  # fmt: skip
                exported = False
                for feature in _FEATURES:
                    if not uses[feature] or rng.random() < 0.4:
                        continue
                    at += timedelta(minutes=rng.randint(1, 20))
                    page = {"path": _PAGES[feature]}
                    add(at, type="track", userId=user_id, event="Feature Used",
                        properties={"feature": feature}, context={**context, "page": page})  # fmt: skip
                    exported = exported or feature == "reports-export"
                if exported and rng.random() < 0.25:
                    at += timedelta(seconds=30)
                    page = {"path": "/reports"}
                    score = round(
                        4.3 + 0.5 * person_mood - (1.9 if slow else 0) + rng.gauss(0, 0.6)
                    )
                    _ask(add, rng, at, user_id, {**context, "page": page}, surveys["csat"],
                         "csat", max(1, min(5, score)), "reports-export", locale,
                         slow=slow, leaving=None)  # fmt: skip
                if day >= next_nps:
                    next_nps = day + rng.randint(25, 35)
                    at += timedelta(minutes=2)
                    score = round(7.6 + 1.3 * person_mood + rng.gauss(0, 1.1))
                    if leaving:
                        score = rng.choice((7, 7, 8, 6))  # polite numbers, unhappy words
                    _ask(add, rng, at, user_id, {**context, "page": {"path": "/dashboards"}},
                         surveys["nps"], "nps", max(0, min(10, score)), None, locale,
                         slow=slow and uses["reports-export"], leaving=leaving)  # fmt: skip
    events.sort(key=lambda e: e["timestamp"])
    return events


def _ask(
    add: Any, rng: random.Random, at: datetime, user_id: str, context: dict[str, Any],
    survey_id: str, kind: str, score: int, feature: str | None, locale: str, *,
    slow: bool, leaving: str | None,
) -> None:  # fmt: skip
    """One survey shown, then answered (with a comment now and then), dismissed, or ignored."""
    base = {"survey_id": survey_id, "kind": kind, **({"feature": feature} if feature else {})}
    add(at, type="track", userId=user_id, event="Survey Shown",
        properties={**base, "placement": "popover"}, context=context)  # fmt: skip
    roll = rng.random()
    if roll < 0.25:
        add(at + timedelta(seconds=4), type="track", userId=user_id, event="Survey Dismissed",
            properties={**base, "reason": "closed"}, context=context)  # fmt: skip
        return
    if roll < 0.35:
        return  # shown, then the tab was closed: neither answered nor dismissed
    properties = {**base, "response_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                  "score": score, "partial": False}  # fmt: skip
    talk = 0.9 if leaving else 0.5
    if rng.random() < talk:
        properties["comment"] = rng.choice(_COMMENTS[_language(locale)][
            _theme(rng, kind, score, slow=slow, leaving=leaving is not None)])  # fmt: skip
    add(at + timedelta(seconds=20), type="track", userId=user_id, event="Survey Responded",
        properties=properties, context=context)  # fmt: skip


def _theme(rng: random.Random, kind: str, score: int, *, slow: bool, leaving: bool) -> str:
    if leaving and rng.random() < 0.7:
        return "leaving"
    if slow and rng.random() < 0.7:
        return "export_slow"
    good = score >= 9 if kind == "nps" else score >= 4
    bad = score <= 6 if kind == "nps" else score <= 2
    if good:
        return rng.choice(
            ("praise_dashboards", "praise_alerts", "praise_support", "feature_request")
        )
    if bad:
        return rng.choice(("pricing", "reliability", "usability", "onboarding", "export_slow"))
    return rng.choice(("ok", "feature_request", "usability", "onboarding"))
