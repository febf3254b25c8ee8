"""A seeded population of B2B SaaS accounts with known churn, as Segment-format events.

Every account has one *archetype* that decides its ground truth (``churns``: it will churn in
the next ~60 days) and the one behaviour that gives it away, if any. Everything else (plan,
seats, utilisation, engagement, feature breadth, sentiment, weekly noise) is drawn from the
same distributions for every archetype, so no churn archetype is "worse at everything".

Determinism: each account draws from its own ``random.Random`` seeded by ``(seed, index)``, and
days are generated oldest first, so the same seed and the same ``now`` give the same events
whether the population is iterated day by day (as it is sent) or account by account.
The label never appears in the events: no ``status`` trait, no archetype, no "churn".
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cxloop.demo.simulation import comments

__all__ = [
    "ARCHETYPES",
    "CSMS",
    "DEFAULT_MIX",
    "FEATURES",
    "KEY_FEATURES",
    "AccountSim",
    "Archetype",
    "Feature",
    "Population",
    "SimConfig",
    "allocate",
    "generate",
    "is_usage",
]

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Archetype:
    name: str
    churns: bool
    tell: str  # what gives it away, and why that is hard to read


ARCHETYPES: dict[str, Archetype] = {
    a.name: a
    for a in (
        Archetype("healthy_growing", False, "usage and active users rise; seats bought mid-way"),
        Archetype("healthy_stable", False, "flat usage, normal utilisation and breadth"),
        Archetype(
            "healthy_small",
            False,
            "1–4 seats, all in daily use, but few users and fewer features (low confidence)",
        ),
        Archetype(
            "healthy_dip",
            False,
            "noise: a 5–14 day dip of their own in the last 5 weeks, maybe still ongoing",
        ),
        Archetype("declining", True, "usage and active users fall over the last 3–6 weeks"),
        Archetype("narrowing", True, "feature breadth shrinks to 2–3 features, volume flat"),
        Archetype("detractor", True, "low NPS/CSAT/CES and more of them; usage flat"),
        Archetype(
            "silent",
            True,
            "hard: usage flat, fewer seats in use and sporadic users (low depth), "
            "overlapping healthy accounts that leave seats idle",
        ),
        Archetype("lookalike", True, "irreducible: drawn exactly like healthy_stable"),
        Archetype(
            "voiced",
            True,
            "usage flat and ordinary, polite scores (mostly passive, some promoters), but the "
            "comments complain and, lately, say they are switching or not renewing",
        ),
    )
}

# Realistic proportions for a B2B book with a ~27% 60-day churn cohort (enriched for the bench:
# a real book churns less, but a handful of churners makes a useless AUC). ``voiced`` (issue 15)
# took its 5% from the three largest healthy archetypes (stable 0.40 → 0.37, growing and small
# 0.01 each), so every other churn archetype keeps its share of the book.
DEFAULT_MIX: dict[str, float] = {
    "healthy_growing": 0.15,
    "healthy_stable": 0.37,
    "healthy_small": 0.13,
    "healthy_dip": 0.08,
    "declining": 0.06,
    "narrowing": 0.04,
    "detractor": 0.04,
    "silent": 0.05,
    "lookalike": 0.03,
    "voiced": 0.05,
}


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    event: str  # the track event a use of it sends
    key: bool  # the product team's "key features"
    popularity: float  # chance an account adopts it, and its relative use


FEATURES: tuple[Feature, ...] = (
    Feature("dashboards", "Dashboard Viewed", True, 1.0),
    Feature("reports", "Report Created", True, 0.9),
    Feature("search", "Search Performed", False, 0.8),
    Feature("exports", "Report Exported", False, 0.7),
    Feature("alerts", "Alert Configured", True, 0.6),
    Feature("sharing", "Dashboard Shared", True, 0.55),
    Feature("integrations", "Integration Connected", True, 0.5),
    Feature("automations", "Automation Run", True, 0.45),
    Feature("comments", "Comment Added", False, 0.4),
    Feature("admin", "User Invited", False, 0.3),
    Feature("api", "API Key Created", False, 0.25),
    Feature("billing", "Invoice Viewed", False, 0.15),
)
KEY_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.key)
_BY_NAME = {f.name: f for f in FEATURES}

# Monday … Sunday: B2B products are used on working days.
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 0.97, 0.85, 0.22, 0.12)
SURVEYS = {"nps": "srv_nps_relationship", "csat": "srv_csat_reports", "ces": "srv_ces_integrations"}
REGIONS = (  # (share, centre of the working day in UTC hours, chance a user writes Chinese)
    ("us", 0.45, 17.0, 0.03),
    ("eu", 0.30, 11.0, 0.02),
    ("cn", 0.25, 4.0, 0.85),
)
# Of the users who write Chinese, this share writes Traditional (Taiwan, Hong Kong).
TRADITIONAL_SHARE = 0.15
# Chance an answer carries a comment; accounts about to leave with unhappy words write more.
COMMENT_CHANCE = 0.35
VOICED_COMMENT_CHANCE = 0.6
# A voiced account's comments from the day it decided to leave say so this often.
LEAVING_SAYS_SO = 0.5
# The customer-success managers who own the accounts (the ``csm`` trait the console filters by).
CSMS = ("Mei Lin 林美", "Sam Carter", "Zhang Wei 张伟", "Priya Raman", "Chen Jia-hui 陳佳慧",
        "Alex Morgan")  # fmt: skip
# Of the paid accounts that stay, this share renewed in the last 30 days (renewal_date past).
RENEWED_LATELY = 0.06
_NAME_A = ("Blue", "North", "Silver", "Bright", "Red", "Iron", "Cloud", "Pine", "Harbor", "Stone",
           "Swift", "Golden", "Quiet", "Open", "Green", "Lumen", "Delta", "Atlas", "Cedar", "Nova")  # fmt: skip
_NAME_B = ("Analytics", "Labs", "Logistics", "Health", "Systems", "Retail", "Media", "Foods",
           "Robotics", "Capital", "Energy", "Works", "Studio", "Freight", "Learning", "Bio")  # fmt: skip
_FIRST = ("Ana", "Ben", "Chen", "Dana", "Eli", "Fang", "Gus", "Hana", "Ivan", "Jia", "Kai",
          "Lena", "Ming", "Noor", "Omar", "Priya", "Qing", "Rosa", "Sam", "Tao", "Uma", "Wei")  # fmt: skip
_LAST = ("Smith", "Wang", "Garcia", "Li", "Muller", "Zhang", "Rossi", "Kim", "Chen", "Novak",
         "Liu", "Silva", "Huang", "Khan", "Dubois", "Zhao")  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimConfig:
    accounts: int = 400
    days: int = 120
    seed: int = 1
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    now: datetime | None = None  # default: the current time; today (UTC) is the last day
    holiday_factor: float = 0.4  # everyone's chance to be active on a holiday (−60%)
    holiday_start_days_ago: tuple[int, int] = (16, 21)  # first holiday day, drawn per seed
    holiday_length: tuple[int, int] = (3, 5)


@dataclass(slots=True)
class UserSim:
    user_id: str
    name: str
    email: str
    role: str
    locale: str
    activity: float  # chance to be active on a full working day
    tracks_per_day: float  # mean track events on an active day
    joins_days_ago: int  # first day (days ago) the user exists
    leaves_days_ago: int | None = None  # from this day on (days ago), never active again


@dataclass
class AccountSim:
    """One account: its traits, users and behaviour, and its own random stream."""

    index: int
    account_id: str
    archetype: str
    traits: dict[str, Any]
    users: list[UserSim]
    feature_weights: dict[str, float]  # adopted features and how much each is used
    center_hour: float
    sentiment: float  # shift of every score this account's users give (0: typical)
    response_propensity: float
    starts_days_ago: int
    multiplier: dict[int, float]  # days ago → usage multiplier of the account's own story
    drops: dict[str, int] = field(default_factory=dict)  # narrowing: feature → last day used
    seats_later: tuple[int, int] | None = None  # growing: (days ago, new seat count)
    renewal_in_days: int | None = None  # from today (< 0: renewed lately); free: none
    # voiced: the mood its comments are written in (None: the mood of each answer's score)
    # and the day (days ago) from which it has decided to leave.
    words: float | None = None
    leaving_days_ago: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    daily_usage: dict[int, int] = field(default_factory=dict)  # days ago → usage events sent

    @property
    def churns(self) -> bool:
        return ARCHETYPES[self.archetype].churns

    @property
    def admin(self) -> UserSim:
        return self.users[0]


@dataclass
class Population:
    config: SimConfig
    now: datetime
    accounts: list[AccountSim]
    holiday_days_ago: tuple[int, ...]

    @property
    def today(self) -> date:
        return self.now.date()

    def day(self, days_ago: int) -> date:
        return self.today - timedelta(days=days_ago)

    def events(self) -> Iterator[Event]:
        """Every event, oldest day first (within a day, account by account)."""
        for days_ago in range(self.config.days - 1, -1, -1):
            for account in self.accounts:
                yield from self.day_events(account, days_ago)

    def account_events(self, account: AccountSim) -> list[Event]:
        """One account's events on their own (use a fresh population: consumes its stream)."""
        return [e for k in range(self.config.days - 1, -1, -1) for e in self.day_events(account, k)]

    def day_events(self, account: AccountSim, days_ago: int) -> list[Event]:
        return _DayWriter(self, account, days_ago).run()

    def mark_churned(self) -> list[Event]:
        """After scoring only: the churners' ``status: "churned"`` group traits, at ``now``."""
        stamp = _iso(self.now)
        return [
            {
                "type": "group",
                "messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{a.account_id}/churned")),
                "timestamp": stamp,
                "userId": a.admin.user_id,
                "groupId": a.account_id,
                "traits": {"status": "churned"},
            }
            for a in self.accounts
            if a.churns
        ]


def allocate(mix: dict[str, float], total: int) -> dict[str, int]:
    """Exact counts per archetype for ``total`` accounts (largest remainder)."""
    unknown = set(mix) - set(ARCHETYPES)
    if unknown:
        raise ValueError(f"unknown archetype(s) {sorted(unknown)}; known: {sorted(ARCHETYPES)}")
    weight = sum(mix.values())
    if weight <= 0 or any(v < 0 for v in mix.values()):
        raise ValueError("the archetype mix needs non-negative shares with a positive sum")
    exact = {name: total * share / weight for name, share in mix.items()}
    counts = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda n: (-(exact[n] - counts[n]), n))
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def generate(config: SimConfig) -> Population:
    if config.days < 14 or config.accounts < 1:
        raise ValueError("simulate at least one account over at least 14 days")
    now = (config.now or datetime.now(UTC)).astimezone(UTC)
    population_rng = random.Random(f"cxloop-sim:{config.seed}:population")
    counts = allocate(config.mix, config.accounts)
    kinds = [name for name, n in counts.items() for _ in range(n)]
    population_rng.shuffle(kinds)  # account ids say nothing about archetypes
    start = population_rng.randint(*config.holiday_start_days_ago)
    length = population_rng.randint(*config.holiday_length)
    holiday = tuple(d for d in range(start, start - length, -1) if 0 <= d < config.days)
    accounts = [
        _make_account(config, index, kind, random.Random(f"cxloop-sim:{config.seed}:{index}"))
        for index, kind in enumerate(kinds)
    ]
    return Population(config, now, accounts, holiday)


def is_usage(event: Event) -> bool:
    """What docs/health.md counts as activity: page/screen and non-survey track events."""
    kind = event.get("type")
    if kind == "track":
        return not str(event.get("event", "")).startswith("Survey ")
    return kind in ("page", "screen")


# --- building an account ------------------------------------------------------------------


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _make_account(config: SimConfig, index: int, kind: str, rng: random.Random) -> AccountSim:
    days = config.days
    account_id = f"acct_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    name = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {index + 1}"
    domain = name.lower().replace(" ", "") + ".example"
    region = rng.choices(REGIONS, weights=[r[1] for r in REGIONS])[0]

    if kind == "healthy_small":
        plan = rng.choice(("free", "pro"))
        seats = rng.randint(1, 4)
    else:
        plan = rng.choices(("free", "pro", "enterprise"), weights=(0.15, 0.60, 0.25))[0]
        seats = {
            "free": lambda: rng.randint(1, 5),
            "pro": lambda: round(_log_uniform(rng, 3, 30)),
            "enterprise": lambda: round(_log_uniform(rng, 20, 80)),
        }[plan]()

    # Members who have an account, out of the seats paid for.
    # Silent churners overlap the healthy on purpose: fewer members and sporadic use on
    # average, but plenty of healthy accounts leave seats idle too.
    if kind == "healthy_small":
        members = seats
    elif kind == "silent":
        members = max(1, round(seats * rng.betavariate(3, 4.5)))
    else:
        members = max(1, round(seats * rng.betavariate(5, 2.5)))
    members = min(members, seats)

    engagement = {
        "healthy_small": lambda: rng.betavariate(8, 2),
        "silent": lambda: rng.betavariate(3, 8),
    }.get(kind, lambda: rng.betavariate(5, 4))()
    dormant_share = 0.25 if kind == "silent" else 0.0 if kind == "healthy_small" else 0.10
    depth = 0.6 if kind == "silent" else 1.0

    # When the account started: most before the window (seen from its first day), some
    # growing ones inside it.
    starts = days - 1
    if kind == "healthy_growing" and rng.random() < 0.3 and days > 60:
        starts = rng.randint(45, days - 1)

    users: list[UserSim] = []
    for j in range(members):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        locale = "en"
        if rng.random() < region[3]:
            locale = "zh-TW" if rng.random() < TRADITIONAL_SHARE else "zh-CN"
        dormant = j > 0 and rng.random() < dormant_share
        activity = 0.03 if dormant else rng.betavariate(8 * engagement, 8 * (1 - engagement))
        joins = starts
        hire_chance = {"healthy_growing": 0.35, "healthy_small": 0.0}.get(kind, 0.05)
        if j > 0 and rng.random() < hire_chance:
            joins = rng.randint(0, starts)  # a new hire, inside the window
        users.append(
            UserSim(
                user_id=f"usr_{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}{j}@{domain}",
                role="admin" if j == 0 or rng.random() < 0.12 else "member",
                locale=locale,
                activity=activity,
                tracks_per_day=rng.uniform(1.5, 4.5) * depth,
                joins_days_ago=joins,
            )
        )

    # Feature breadth: small teams use fewer features.
    breadth = rng.randint(4, 7) if kind == "healthy_small" else rng.randint(6, 11)
    pool = list(FEATURES[1:])
    adopted = [FEATURES[0]]
    while len(adopted) < breadth:
        pick = rng.choices(pool, weights=[f.popularity for f in pool])[0]
        pool.remove(pick)
        adopted.append(pick)
    feature_weights = {f.name: f.popularity * rng.lognormvariate(0, 0.4) for f in adopted}

    # The account's own story, on top of weekly noise that every account has.
    weekly = [rng.lognormvariate(0, 0.12) for _ in range(days // 7 + 2)]
    story: dict[int, float] = {}
    drops: dict[str, int] = {}
    seats_later = None
    if kind == "healthy_growing":
        growth = rng.uniform(1.3, 2.0)
        story = {k: growth ** (-k / max(days - 1, 1)) for k in range(days)}
        if plan != "free" and rng.random() < 0.6:
            seats_later = (rng.randint(5, max(6, days // 2)), seats + max(1, round(seats * 0.3)))
    elif kind == "healthy_dip":
        begins = rng.randint(5, 35)
        ends = max(0, begins - rng.randint(5, 14) + 1)
        depth_of_dip = rng.uniform(0.35, 0.6)
        story = {k: depth_of_dip for k in range(ends, begins + 1)}
    elif kind == "declining":
        span = rng.randint(21, 42)
        floor = rng.uniform(0.15, 0.5)
        story = {k: floor + (1 - floor) * (k / span) for k in range(span)}
        for user in users[1:]:
            if rng.random() < 0.35:
                user.leaves_days_ago = rng.randint(0, span)
    elif kind == "narrowing":
        span = rng.randint(21, 42)
        kept = rng.randint(2, 3)
        ranked = sorted(feature_weights, key=lambda n: -feature_weights[n])
        for name_ in ranked[kept:]:
            drops[name_] = rng.randint(7, span)
    for user in users[1:]:  # ordinary turnover (a small team that lost someone is not "full")
        if kind != "healthy_small" and user.leaves_days_ago is None and rng.random() < 0.03:
            user.leaves_days_ago = rng.randint(0, days - 1)
    multiplier = {k: story.get(k, 1.0) * weekly[k // 7] for k in range(days)}

    sentiment = rng.gauss(-3.3, 0.8) if kind == "detractor" else rng.gauss(0.0, 0.8)
    propensity = {"detractor": 1.8, "silent": 0.3}.get(kind, 1.0) * rng.uniform(0.5, 1.5)
    words: float | None = None
    leaving: int | None = None
    if kind == "voiced":
        # Polite with numbers (7s and 8s, some 9s), unhappy in words; decided to leave some
        # weeks ago and, from then on, says so in some comments.
        sentiment = rng.gauss(-0.3, 0.5)
        words = rng.gauss(-2.3, 0.5)
        leaving = rng.randint(20, 60)

    if plan == "free":
        mrr, renewal = 0, None
    else:
        per_seat = 29 if plan == "pro" else 49 * rng.uniform(0.8, 1.0)
        mrr = round(seats * per_seat)
        monthly = plan == "pro" and rng.random() < 0.5
        horizon = 30 if monthly else 365
        # Churn happens at renewal, so a churner's renewal falls in the next 60 days; the
        # score does not read this trait.
        if ARCHETYPES[kind].churns:
            horizon = min(horizon, 60)
        renewal = rng.randint(1, horizon)
    # The CRM traits come from a stream of their own, so the behaviour above and below (and
    # with it the bench's AUC) is what it was before they were added; the score reads neither.
    crm = random.Random(f"cxloop-sim:{config.seed}:{index}:crm")
    csm = crm.choice(CSMS)
    if renewal is not None and not ARCHETYPES[kind].churns and crm.random() < RENEWED_LATELY:
        renewal = -crm.randint(1, 30)
    traits: dict[str, Any] = {"name": name, "plan": plan, "seats": seats, "mrr": mrr, "csm": csm}

    return AccountSim(
        index=index,
        account_id=account_id,
        archetype=kind,
        traits=traits,
        users=users,
        feature_weights=feature_weights,
        center_hour=region[2],
        sentiment=sentiment,
        response_propensity=propensity,
        starts_days_ago=starts,
        multiplier=multiplier,
        drops=drops,
        seats_later=seats_later,
        renewal_in_days=renewal,
        words=words,
        leaving_days_ago=leaving,
        rng=rng,
    )


# --- writing one account-day ----------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class _DayWriter:
    """The events of one account on one day (consumes the account's random stream)."""

    def __init__(self, population: Population, account: AccountSim, days_ago: int) -> None:
        self.population = population
        self.account = account
        self.days_ago = days_ago
        self.rng = account.rng
        day = population.day(days_ago)
        self.day_prefix = day.isoformat() + "T"
        # Today ends now: nothing may be sent from the future.
        now = population.now
        self.cutoff = now.hour * 3600 + now.minute * 60 + now.second if days_ago == 0 else 86_400
        self.weekday = day.weekday()
        self.events: list[Event] = []

    def stamp(self, second: float) -> str:
        s = int(second)
        ms = int((second - s) * 1000)
        return f"{self.day_prefix}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms:03d}Z"

    def message_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, second: float, event: Event) -> None:
        if second >= self.cutoff:
            return
        event["messageId"] = self.message_id()
        event["timestamp"] = self.stamp(second)
        self.events.append(event)

    def context(self, user: UserSim) -> dict[str, Any]:
        return {
            "groupId": self.account.account_id,
            "locale": user.locale,
            "library": {"name": "cxloop-js", "version": "0.1.0"},
        }

    def account_traits(self) -> dict[str, Any]:
        traits = dict(self.account.traits)
        later = self.account.seats_later
        if later is not None and self.days_ago <= later[0]:
            traits["seats"] = later[1]
            traits["mrr"] = round(traits["mrr"] * later[1] / self.account.traits["seats"])
        if self.account.renewal_in_days is not None:
            due = self.population.today + timedelta(days=self.account.renewal_in_days)
            traits["renewal_date"] = due.isoformat()
        return traits

    def introduce(self, user: UserSim, second: float) -> None:
        """What the SDK sends on sign-in: identify, then group with the account's traits."""
        traits = {"email": user.email, "name": user.name, "role": user.role}
        self.emit(second, {"type": "identify", "userId": user.user_id, "traits": traits,
                           "context": self.context(user)})  # fmt: skip
        self.emit(second + 0.2, {"type": "group", "userId": user.user_id,
                                 "groupId": self.account.account_id,
                                 "traits": self.account_traits(),
                                 "context": self.context(user)})  # fmt: skip

    def run(self) -> list[Event]:
        account, k = self.account, self.days_ago
        if k > account.starts_days_ago:
            return []
        rng = self.rng
        day_start = self.working_second()
        for user in account.users:
            if user.joins_days_ago == k:
                self.introduce(user, day_start - 60)
        refresh = account.seats_later is not None and account.seats_later[0] == k
        if refresh or (k < account.starts_days_ago and (account.starts_days_ago - k) % 30 == 0):
            admin = account.admin
            self.emit(day_start - 30, {"type": "group", "userId": admin.user_id,
                                       "groupId": account.account_id,
                                       "traits": self.account_traits(),
                                       "context": self.context(admin)})  # fmt: skip

        features = [name for name in account.feature_weights if account.drops.get(name, -1) < k]
        cumulative: list[float] = []
        total = 0.0
        for name in features:
            total += account.feature_weights[name]
            cumulative.append(total)
        level = account.multiplier[k]
        holiday = (
            self.population.config.holiday_factor if k in self.population.holiday_days_ago else 1.0
        )
        # The story moves both who shows up and how much they do (√ each ≈ the product).
        presence = WEEKDAY_FACTOR[self.weekday] * math.sqrt(level) * holiday
        volume = math.sqrt(level)
        usage = 0
        for user in account.users:
            if user.joins_days_ago < k or (
                user.leaves_days_ago is not None and k <= user.leaves_days_ago
            ):
                continue
            if rng.random() >= min(0.98, user.activity * presence):
                continue
            usage += self.session(user, features, cumulative, volume)
        if usage:
            account.daily_usage[k] = account.daily_usage.get(k, 0) + usage
        return self.events

    def working_second(self) -> float:
        hour = self.rng.gauss(self.account.center_hour, 2.2)
        return min(max(hour, 1.0), 22.0) * 3600

    def session(
        self, user: UserSim, features: list[str], cumulative: list[float], volume: float
    ) -> int:
        rng, context = self.rng, self.context(user)
        second = self.working_second()
        pages = 1 + _poisson(rng, 0.8)
        tracks = _poisson(rng, user.tracks_per_day * volume)
        usage = 0
        for page in range(pages):
            feature = rng.choices(features, cum_weights=cumulative)[0]
            path = f"/app/{feature}"
            title = feature.title()
            second += rng.expovariate(1 / 40)
            if second < self.cutoff:
                usage += 1
            self.emit(second, {"type": "page", "userId": user.user_id, "name": title,
                               "properties": {"path": path, "title": title,
                                              "url": f"https://app.example.com{path}"},
                               "context": context})  # fmt: skip
            share = tracks // pages + (1 if page < tracks % pages else 0)
            for _ in range(share):
                if rng.random() >= 0.7:
                    feature = rng.choices(features, cum_weights=cumulative)[0]
                second += rng.expovariate(1 / 25)
                if second < self.cutoff:
                    usage += 1
                self.emit(second, {"type": "track", "userId": user.user_id,
                                   "event": _BY_NAME[feature].event,
                                   "properties": {"feature": feature},
                                   "context": context})  # fmt: skip
                self.maybe_respond(user, feature, second + 5)
        self.maybe_respond(user, None, second + 30)
        return usage

    def maybe_respond(self, user: UserSim, feature: str | None, second: float) -> None:
        """In-app ratings: NPS now and then, CSAT after reports, CES after integrations."""
        rng, account = self.rng, self.account
        if feature is None:
            kind, chance = "nps", 0.004
        elif feature == "reports":
            kind, chance = "csat", 0.006
        elif feature == "integrations":
            kind, chance = "ces", 0.02
        else:
            return
        if rng.random() >= chance * account.response_propensity:
            return
        mood = account.sentiment + rng.gauss(0, 1.0)
        if kind == "nps":
            score = min(10, max(0, round(8.0 + mood)))
        elif kind == "csat":
            score = min(5, max(1, round(4.1 + 0.45 * mood)))
        else:
            score = min(7, max(1, round(2.6 - 0.6 * mood)))
        properties: dict[str, Any] = {
            "survey_id": SURVEYS[kind],
            "response_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "kind": kind,
            "score": score,
            "partial": False,
        }
        if feature is not None:
            properties["feature"] = feature
        chance = COMMENT_CHANCE if account.words is None else VOICED_COMMENT_CHANCE
        if rng.random() < chance:
            # The words follow this answer's mood, or a voiced account's own unhappy mood.
            said = mood if account.words is None else account.words + rng.gauss(0, 0.8)
            leaving = (
                account.leaving_days_ago is not None
                and self.days_ago <= account.leaving_days_ago
                and rng.random() < LEAVING_SAYS_SO
            )
            properties["comment"] = comments.write(
                rng,
                user.locale,
                comments.tone_of(rng, said),
                feature,
                list(account.feature_weights),
                leaving=leaving,
            )
        self.emit(second, {"type": "track", "userId": user.user_id, "event": "Survey Responded",
                           "properties": properties, "context": self.context(user)})  # fmt: skip
