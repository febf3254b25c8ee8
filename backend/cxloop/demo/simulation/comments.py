"""Comments the simulated users write: templates × slot fillers in English, Simplified and
Traditional Chinese, whose wording follows the mood of the answer, or, for an account that has
decided to leave, says so.

Written for the simulator alone (not drawn from bench/textsets, the text-analysis evaluation
set): the words are generated, as the usage is, from a seeded ``random.Random``. What makes
them realistic rather than easy: negation both ways ("not as easy as it should be", 没有想象中
难用), Chinese with English product words (「dashboard 加载太慢」), emoji, one-word answers,
mixed praise and complaint, competitors named without leaving ("we moved from DashHub, no
regrets"), and leaving said in many ways (switching, not renewing, cancelling, a competitor's
trial).
"""

from __future__ import annotations

import random
from typing import Literal

__all__ = [
    "COMPETITORS",
    "LOCALES",
    "TONES",
    "Tone",
    "tone_of",
    "write",
]

Tone = Literal["positive", "negative", "mixed", "neutral"]
TONES: tuple[Tone, ...] = ("positive", "negative", "mixed", "neutral")
LOCALES = ("en", "zh-CN", "zh-TW")
# Fictional competitors (the simulator's product has these rivals; a project can list them).
COMPETITORS = ("DashHub", "Chartwise", "Metricly", "数见")

_FEATURES: dict[str, dict[str, str]] = {
    "en": {
        "dashboards": "the dashboard", "reports": "reporting", "search": "search",
        "exports": "the export", "alerts": "alerting", "sharing": "sharing",
        "integrations": "the integration", "automations": "automation",
        "comments": "commenting", "admin": "user management", "api": "the API",
        "billing": "billing",
    },
    "zh-CN": {
        "dashboards": "仪表盘", "reports": "报表", "search": "搜索", "exports": "导出",
        "alerts": "告警", "sharing": "分享", "integrations": "集成", "automations": "自动化",
        "comments": "评论", "admin": "权限管理", "api": "API", "billing": "账单",
    },
    "zh-TW": {
        "dashboards": "儀表板", "reports": "報表", "search": "搜尋", "exports": "匯出",
        "alerts": "警示", "sharing": "分享", "integrations": "整合", "automations": "自動化",
        "comments": "評論", "admin": "權限管理", "api": "API", "billing": "帳單",
    },
}  # fmt: skip
# The English word a Chinese-speaking user types for a feature in a mixed-language comment.
_MIXED_NAMES = {
    "dashboards": "dashboard", "reports": "report", "search": "search", "exports": "export",
    "alerts": "alert", "sharing": "share", "integrations": "integration",
    "automations": "automation", "comments": "comment", "admin": "admin", "api": "API",
    "billing": "billing",
}  # fmt: skip

_EN: dict[str, tuple[str, ...]] = {
    "positive": (
        "{F} saves us hours every week.",
        "Love how fast {f} is now.",
        "{F} just works, the whole team relies on it.",
        "Never had a problem with {f}.",
        "Not bad at all, {f} does exactly what we need.",
        "Honestly the best {f} we have used. 👍",
        "Great product, great support.",
        "Really happy with {f} since the last update.",
        "We moved from {c} last year, no regrets.",
        "No plans to switch, {f} is too good. 😊",
        "great",
        "👍👍",
    ),
    "negative": (
        "{F} is far too slow, my team gave up on it.",
        "{F} keeps timing out.",
        "{F} is not as easy as it should be.",
        "Not happy with {f}, it broke again after the update.",
        "Support took a week to answer about {f}.",
        "Why does {f} take so long to load?",
        "Too expensive for what we actually use.",
        "{F} is confusing and nobody on the team understands it.",
        "Frustrating. {F} lost our settings twice.",
        "terrible 👎",
    ),
    "mixed": (
        "{F} is great but {g} is painfully slow.",
        "Good product overall, though {f} could be a lot simpler.",
        "I like {f}, but {g} keeps breaking.",
        "Useful, but the price went up and {f} did not get better.",
    ),
    "neutral": (
        "Would be nice to export {f} to Excel.",
        "Please add dark mode.",
        "Can {f} support custom date ranges?",
        "It does the job.",
        "ok",
        "We mostly use {f}.",
    ),
    "leaving": (
        "We are moving to {c} next quarter.",
        "Not renewing, {f} never worked for us.",
        "We will cancel our subscription at renewal.",
        "Already trialling {c}, it is faster than {f}.",
        "Our team is switching tools, {f} is too slow.",
        "Looking for an alternative, we won't renew.",
        "Cancelling at the end of the contract.",
    ),
}
_ZH_CN: dict[str, tuple[str, ...]] = {
    "positive": (
        "{f}很好用，节省了很多时间。",
        "{f}非常方便，整个团队都离不开它。",
        "没有想象中难用，{f}上手很快。",
        "一直在用{f}，从来没出过问题。",
        "{f}做得不错👍",
        "客服响应很快，{f}也很稳定。",
        "以前用{c}，换过来以后好多了。",
        "不会换别的工具，{f}太好用了。",
        "很满意",
        "{m} 很好用",
    ),
    "negative": (
        "{f}太慢了，团队已经不用了。",
        "{f}经常出错，影响工作。",
        "不是很满意，{f}加载要很久。",
        "{f}越来越难用了。",
        "价格太贵，我们用到的功能很少。",
        "{f}又崩了，客服一周都没回复。",
        "{m} 加载太慢",
        "{m} 功能不好用",
        "太差了👎",
    ),
    "mixed": (
        "{f}挺好的，但是{g}太慢了。",
        "整体还行，就是{f}不太方便。",
        "功能很全，可惜{f}经常卡。",
        "{m} 不错，但是{g}经常出错。",
    ),
    "neutral": (
        "希望{f}能支持自定义时间范围。",
        "建议增加深色模式。",
        "我们主要用{f}。",
        "还行",
        "{m} 能不能导出到 Excel？",
    ),
    "leaving": (
        "我们正在考虑换{c}。",
        "明年不续费了，{f}一直不好用。",
        "已经在试用{c}，准备迁移。",
        "{f}太慢，我们打算换别的工具。",
        "合同到期后不再续约。",
        "准备取消订阅了。",
    ),
}
_ZH_TW: dict[str, tuple[str, ...]] = {
    "positive": (
        "{f}很好用，節省很多時間。",
        "{f}非常方便，團隊都靠它。",
        "沒有想像中難用，{f}很快就上手了。",
        "{f}一直很穩定👍",
        "很滿意",
    ),
    "negative": (
        "{f}太慢了，大家都不想用。",
        "{f}常常出錯。",
        "不是很滿意，{f}載入很久。",
        "價格太貴，用到的功能很少。",
        "{m} 載入太慢",
    ),
    "mixed": (
        "{f}還不錯，但是{g}太慢了。",
        "整體還可以，就是{f}不太方便。",
    ),
    "neutral": (
        "希望{f}可以支援自訂時間範圍。",
        "我們主要用{f}。",
        "還好",
    ),
    "leaving": (
        "我們正在考慮換成{c}。",
        "明年不會續約了。",
        "{f}太慢，打算換別的工具。",
        "合約到期就不續了。",
    ),
}
_TEMPLATES = {"en": _EN, "zh-CN": _ZH_CN, "zh-TW": _ZH_TW}


def tone_of(rng: random.Random, mood: float) -> Tone:
    """The tone of a comment from the mood behind it, on the scores' scale (an NPS answer is
    about 8 + mood: promoter from mood 0.5, detractor below −1.5), with the hedging people
    do: a mood between those mixes praise and complaint, or says little."""
    if mood >= 0.5:
        return "positive" if rng.random() < 0.85 else rng.choice(("neutral", "mixed"))
    if mood < -1.5:
        return "negative" if rng.random() < 0.85 else "mixed"
    if mood < -0.5:
        return rng.choices(("mixed", "negative", "neutral"), weights=(0.45, 0.3, 0.25))[0]
    return rng.choices(("neutral", "mixed", "positive"), weights=(0.45, 0.25, 0.3))[0]


def write(
    rng: random.Random,
    locale: str,
    tone: Tone,
    feature: str | None,
    features: list[str],
    *,
    leaving: bool = False,
) -> str:
    """One comment in ``locale`` (en, zh-CN, zh-TW; anything else is written in English) of
    this tone about ``feature`` (else one of the account's ``features``); ``leaving``: it says
    the account is switching or not renewing, whatever the tone."""
    templates = _TEMPLATES.get(locale, _EN)
    names = _FEATURES.get(locale, _FEATURES["en"])
    pool = templates["leaving" if leaving else tone]
    text = rng.choice(pool)
    subject = feature if feature in names else rng.choice(features or ["dashboards"])
    others = [f for f in features if f != subject] or ["exports"]
    other = rng.choice(others)
    name = names[subject]
    return text.format(
        f=name,
        F=name[:1].upper() + name[1:],
        g=names.get(other, other),
        m=_MIXED_NAMES.get(subject, subject),
        c=rng.choice(COMPETITORS),
    )
