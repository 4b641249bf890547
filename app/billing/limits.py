"""Plan limits enforced before anything billable happens, and usage against them for the pages.

`check_can_send()` runs in chat's services before an answer is asked for (pages and API alike) and
before anything of the send is written: past a hard limit (monthly tokens or cost, messages per day,
the member's monthly cap) it raises LimitReached and nothing is recorded. An answer already being
written finishes even when it crosses a limit. Soft limits only warn (`warnings()`, the chat banner).

Projects and storage have no organisation of their own: they count against their owner's personal
organisation (`check_can_create_project`, `check_storage`).

The checks read counters and compare: two sends at the same moment may both pass the last step
before a limit, so a limit can be crossed by the answers already asked for, never by a later one."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, String, Uuid, and_, bindparam, func, literal, select, union_all
from sqlalchemy.orm import aliased

from app.billing import charts, metering, organisations, subscriptions
from app.billing.models import (
    FEATURES,
    SENDING_ROLES,
    PlanFeature,
    SubscriptionUsage,
    TenantAccount,
    TenantMembership,
    TenantSubscription,
    UsageCounter,
)
from app.errors import DomainError
from app.errors import LimitReached as RefusedByLimit
from app.extensions import db
from app.models.base import utcnow

# The API answers a refusal with 429 and OpenAI's code for a spent quota (what its SDKs expect).
BILLING_URL = "/billing"
SEND_FEATURES = ("monthly_tokens", "monthly_cost", "messages_per_day")
MAX_MEMBERSHIPS = 500  # organisations listed in the "Bill to" picker (as organisations.memberships_of)
DISPLAY_NAMES = {
    "monthly_tokens": "Tokens this period",
    "monthly_cost": "Provider cost this period",
    "messages_per_day": "Messages today",
    "members": "Members",
    "projects": "Projects",
    "storage": "Project storage",
    "member_monthly_tokens": "Your tokens this month (member cap)",
    "member_monthly_cost": "Your cost this month (member cap)",
}
UNITS = {"monthly_tokens": "tokens", "monthly_cost": "usd_micros", "messages_per_day": "messages",
         "members": "members", "projects": "projects", "storage": "bytes",
         "member_monthly_tokens": "tokens", "member_monthly_cost": "usd_micros"}


class LimitReached(RefusedByLimit):
    """A hard limit of the organisation's plan (or a member cap) refuses the action; the message
    names the limit and points to /billing. HTTP 429 (API: code insufficient_quota)."""

    api_code = "insufficient_quota"

    def __init__(self, message: str, feature_key: str, tenant_id: uuid.UUID | None = None):
        super().__init__(message)
        self.feature_key = feature_key
        # Where to see the limits and change the plan: the refusal's link.
        self.billing_link = f"{BILLING_URL}?org={tenant_id}" if tenant_id else BILLING_URL


@dataclass(frozen=True)
class LimitUsage:
    feature_key: str
    display_name: str
    unit: str
    used: int
    soft_limit: int | None
    hard_limit: int | None
    state: str  # ok | warning | exceeded

    @property
    def is_member_cap(self) -> bool:
        return self.feature_key.startswith("member_")


def _state(used: int, soft: int | None, hard: int | None) -> str:
    if hard is not None and used >= hard:
        return "exceeded"
    if soft is not None and used >= soft:
        return "warning"
    return "ok"


def format_quantity(unit: str, value: int | None) -> str:
    """A quantity with its unit, as people read it: "12,345 tokens", "1 member", "$1.20", "1.5 GB"."""
    if value is None:
        return "no limit"
    if unit == "usd_micros":
        return charts.dollars(value)  # integer arithmetic: no float rounding of money
    if unit == "bytes":  # binary units, as the plans' storage limits are written (500 MB = 500 x 2^20)
        for power, name in ((40, "TB"), (30, "GB"), (20, "MB"), (10, "KB")):
            if value >= 1 << power:
                return f"{value / (1 << power):,.1f} {name}"
        return f"{value:,} bytes"
    noun = {"tokens": "token", "messages": "message", "members": "member", "projects": "project"}.get(unit, unit)
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


def used_of_limit(unit: str, used: int, limit: int | None) -> str:
    """"1,200 of 5,000 tokens", "$1.20 of $5.00": a quantity against its limit."""
    if unit in ("usd_micros", "bytes") or limit is None:
        return f"{format_quantity(unit, used)} of {format_quantity(unit, limit)}"
    return f"{used:,} of {limit:,} {unit}"


def _owned_projects(user_id: uuid.UUID) -> tuple[int, int]:
    from app.projects.models import Project  # projects count against their owner's personal organisation
    count, size = db.session.execute(select(func.count(), func.coalesce(func.sum(Project.total_size_bytes), 0))
                                     .where(Project.owner_id == user_id)).one()
    return int(count), int(size)


@dataclass(frozen=True)
class _Feature:
    feature_key: str
    display_name: str | None
    hard_limit: int | None
    soft_limit: int | None


@dataclass(frozen=True)
class _Plan:
    """An organisation's current subscription (id, period start) and its plan's limits by feature."""
    subscription_id: uuid.UUID
    period_start: object
    features: dict[str, _Feature]


def _plan_of(tenant_id: uuid.UUID) -> _Plan:
    """The organisation's current subscription and its plan's limits in one query (the full
    subscriptions.current_subscription() only when one must be made or its period rolled forward)."""
    now = utcnow()
    live = (select(TenantSubscription.id).where(TenantSubscription.tenant_id == tenant_id,
                                                TenantSubscription.status.in_(subscriptions.LIVE_STATUSES))
            .order_by(TenantSubscription.created_at.desc(), TenantSubscription.id.desc()).limit(1).scalar_subquery())
    rows = db.session.execute(
        select(TenantSubscription.id, TenantSubscription.current_period_start, TenantSubscription.current_period_end,
               TenantSubscription.processor, PlanFeature.feature_key, PlanFeature.display_name,
               PlanFeature.hard_limit, PlanFeature.soft_limit)
        .outerjoin(PlanFeature, PlanFeature.plan_id == TenantSubscription.plan_id)
        .where(TenantSubscription.id == live)).all()
    if not rows or (rows[0].processor == "manual" and rows[0].current_period_end <= now):
        subscription = subscriptions.current_subscription(tenant_id, now=now)
        features = {key: _Feature(key, f.display_name, f.hard_limit, f.soft_limit)
                    for key, f in subscriptions.plan_features(subscription.plan_id).items()}
        return _Plan(subscription.id, subscription.current_period_start, features)
    features = {row.feature_key: _Feature(row.feature_key, row.display_name, row.hard_limit, row.soft_limit)
                for row in rows if row.feature_key is not None}
    return _Plan(rows[0].id, rows[0].current_period_start, features)


def _metered(tenant_id: uuid.UUID, plan: _Plan, keys, user_id: uuid.UUID | None) -> dict[str, int]:
    """What the organisation used of the metered features in `keys` (tokens and cost this period,
    messages today) and, with `user_id`, what that member used this month: one query."""
    now = utcnow()
    today, month = now.date(), metering.month_start(now.date())
    parts = []
    if {"monthly_tokens", "monthly_cost"} & set(keys):
        parts.append(select(SubscriptionUsage.feature_key.label("key"), SubscriptionUsage.quantity.label("a"),
                            literal(0, BigInteger).label("b"), literal(0, BigInteger).label("c"))
                     .where(SubscriptionUsage.subscription_id == plan.subscription_id,
                            SubscriptionUsage.period_start == plan.period_start))
    day_key = metering.bucket_key(tenant_id, None, "day", today) if "messages_per_day" in keys else None
    member_key = metering.bucket_key(tenant_id, user_id, "month", month) if user_id is not None else None
    counter_keys = [key for key in (day_key, member_key) if key]
    if counter_keys:
        parts.append(select(UsageCounter.bucket_key, UsageCounter.messages,
                            UsageCounter.input_tokens + UsageCounter.output_tokens, UsageCounter.cost_micros)
                     .where(UsageCounter.bucket_key.in_(counter_keys)))
    found = {}
    if parts:
        statement = parts[0] if len(parts) == 1 else union_all(*parts)
        found = {row[0]: row for row in db.session.execute(statement)}
    used = {key: int(found[key][1]) if key in found else 0 for key in ("monthly_tokens", "monthly_cost")}
    used["messages_per_day"] = int(found[day_key][1]) if day_key in found else 0
    if member_key in found:
        used["member_monthly_tokens"] = int(found[member_key][2])
        used["member_monthly_cost"] = int(found[member_key][3])
    else:
        used["member_monthly_tokens"] = used["member_monthly_cost"] = 0
    return used


def _rows(plan: _Plan, keys, used: dict[str, int], membership: TenantMembership | None) -> list[LimitUsage]:
    rows = []
    for key in keys:
        feature = plan.features[key]
        amount = used.get(key, 0)
        rows.append(LimitUsage(key, feature.display_name or DISPLAY_NAMES[key], UNITS[key], amount,
                               feature.soft_limit, feature.hard_limit,
                               _state(amount, feature.soft_limit, feature.hard_limit)))
    if membership is not None:
        for key, cap in (("member_monthly_tokens", membership.monthly_token_cap),
                         ("member_monthly_cost", membership.monthly_cost_cap_micros)):
            if cap is not None:
                rows.append(LimitUsage(key, DISPLAY_NAMES[key], UNITS[key], used.get(key, 0), None, cap,
                                       _state(used.get(key, 0), None, cap)))
    return rows


def usage_report(tenant_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> list[LimitUsage]:
    """Usage against each limit of the organisation's current plan in the current period (messages:
    today, UTC), plus, with `user_id`, that member's monthly caps when they have any."""
    tenant = organisations.get_organisation(tenant_id)
    plan = _plan_of(tenant_id)
    membership = organisations.membership_of(user_id, tenant_id) if user_id else None
    keys = [key for key in DISPLAY_NAMES if key in plan.features]
    if not tenant.is_personal:
        keys = [key for key in keys if key not in ("projects", "storage")]
    used = _metered(tenant_id, plan, keys, user_id if membership else None)
    if "members" in keys:
        used["members"] = organisations.member_count(tenant_id)
    if "projects" in keys or "storage" in keys:
        used["projects"], used["storage"] = _owned_projects(tenant.personal_user_id)
    return _rows(plan, keys, used, membership)


def _refusal(tenant: TenantAccount, row: LimitUsage) -> LimitReached:
    whose = "your member cap in " + tenant.name if row.is_member_cap else tenant.name
    return LimitReached(
        f"Sending is paused: {whose} has reached its limit of {row.display_name.lower()} "
        f"({used_of_limit(row.unit, row.used, row.hard_limit)}). "
        f"See {BILLING_URL} to upgrade the plan, or ask an organisation admin.", row.feature_key, tenant.id)


def _has_cap(membership: TenantMembership) -> bool:
    return membership.monthly_token_cap is not None or membership.monthly_cost_cap_micros is not None


def _send_keys(plan: _Plan) -> list[str]:
    return [key for key in SEND_FEATURES if key in plan.features and
            (plan.features[key].hard_limit is not None or plan.features[key].soft_limit is not None)]


def _send_rows(membership: TenantMembership) -> list[LimitUsage]:
    """The send limits set for the membership's organisation (and the member's caps) with their usage,
    read apart: two queries (the plan with its limits, made or rolled forward when needed; the counters)."""
    plan = _plan_of(membership.tenant_id)
    keys = _send_keys(plan)
    if not keys and not _has_cap(membership):
        return []
    used = _metered(membership.tenant_id, plan, keys, membership.user_id if _has_cap(membership) else None)
    return _rows(plan, keys, used, membership if _has_cap(membership) else None)


@dataclass(frozen=True)
class _Standing:
    """Where a user sends from: their membership of the organisation billed, and its send limits
    (and the member's caps) with their usage."""
    tenant: TenantAccount
    membership: TenantMembership
    rows: list[LimitUsage] | None  # None: to be read apart (see _completed)


@functools.cache
def _standing_statement(*, every_membership: bool, names_tenant: bool):
    """The user's (:user_id) memberships (every one, personal first; or only that of the organisation
    billed) with, on the organisation billed (:tenant_id when `names_tenant`, else the personal one),
    its current subscription, one row per limit of its plan with what was metered for it this period,
    today's messages and the member's month (the counters named by :day_suffix and :month_suffix, see
    metering.bucket_suffix): one statement, built once per process."""
    account, member = TenantAccount, TenantMembership
    user_id = bindparam("user_id", type_=Uuid)
    if names_tenant:
        billed_id = bindparam("tenant_id", type_=Uuid)
        billed = account.id == billed_id
    else:
        personal = aliased(TenantAccount, name="personal")
        billed = account.personal_user_id == user_id
        billed_id = select(personal.id).where(personal.personal_user_id == user_id).scalar_subquery()
    # Uncorrelated, so it is looked up once and the subscription then found by its key.
    live = aliased(TenantSubscription, name="live")
    live_id = (select(live.id).where(live.tenant_id == billed_id, live.status.in_(subscriptions.LIVE_STATUSES))
               .order_by(live.created_at.desc(), live.id.desc()).limit(1).scalar_subquery())
    current = aliased(TenantSubscription, name="current_subscription")
    day, month = aliased(UsageCounter, name="day_counter"), aliased(UsageCounter, name="member_month")
    statement = (
        select(account, member, current.id.label("subscription_id"), current.current_period_start,
               current.current_period_end, current.processor, PlanFeature.feature_key, PlanFeature.display_name,
               PlanFeature.hard_limit, PlanFeature.soft_limit, SubscriptionUsage.quantity,
               day.messages.label("day_messages"),
               (month.input_tokens + month.output_tokens).label("member_tokens"),
               month.cost_micros.label("member_cost"))
        .select_from(member).join(account, account.id == member.tenant_id)
        .outerjoin(current, and_(billed, current.id == live_id))
        .outerjoin(PlanFeature, PlanFeature.plan_id == current.plan_id)
        .outerjoin(SubscriptionUsage, and_(SubscriptionUsage.subscription_id == current.id,
                                           SubscriptionUsage.feature_key == PlanFeature.feature_key,
                                           SubscriptionUsage.period_start == current.current_period_start))
        .outerjoin(day, and_(billed, day.bucket_key == metering.bucket_key_of(
            account.id, bindparam("day_suffix", type_=String))))
        .outerjoin(month, and_(billed, month.bucket_key == metering.bucket_key_of(
            account.id, bindparam("month_suffix", type_=String))))
        .where(member.user_id == user_id))
    if every_membership:
        return statement.order_by(account.personal_user_id.is_(None), account.name, account.id).limit(
            MAX_MEMBERSHIPS + len(FEATURES))
    return statement.where(billed)


def _read_standing(user, tenant_id: uuid.UUID | None, *, every_membership: bool):
    """The (organisation, membership) pairs read, and the user's standing in the organisation billed:
    None when they have no membership there; with rows None when its plan must be read apart (no live
    subscription, or a manual period to roll forward: see _completed)."""
    now = utcnow()
    statement = _standing_statement(every_membership=every_membership, names_tenant=tenant_id is not None)
    parameters = {"user_id": user.id, "tenant_id": tenant_id,
                  "day_suffix": metering.bucket_suffix(None, "day", now.date()),
                  "month_suffix": metering.bucket_suffix(user.id, "month", metering.month_start(now.date()))}
    pairs, features, billed_rows = [], {}, []
    for row in db.session.execute(statement, parameters):
        tenant, membership = row[0], row[1]
        if not pairs or pairs[-1][0] is not tenant:
            pairs.append((tenant, membership))
        if (tenant.id == tenant_id) if tenant_id is not None else (tenant.personal_user_id == user.id):
            billed_rows.append(row)
            if row.feature_key is not None:
                features[row.feature_key] = row
    if not billed_rows:
        return pairs[:MAX_MEMBERSHIPS], None
    first = billed_rows[0]
    tenant, membership = first[0], first[1]
    if first.subscription_id is None or (first.processor == "manual" and first.current_period_end <= now):
        return pairs[:MAX_MEMBERSHIPS], _Standing(tenant, membership, None)
    plan = _Plan(first.subscription_id, first.current_period_start,
                 {key: _Feature(key, row.display_name, row.hard_limit, row.soft_limit)
                  for key, row in features.items()})
    used = {key: int(row.quantity or 0) for key, row in features.items() if key in ("monthly_tokens", "monthly_cost")}
    used["messages_per_day"] = int(first.day_messages or 0)
    used["member_monthly_tokens"] = int(first.member_tokens or 0)
    used["member_monthly_cost"] = int(first.member_cost or 0)
    rows = _rows(plan, _send_keys(plan), used, membership if _has_cap(membership) else None)
    return pairs[:MAX_MEMBERSHIPS], _Standing(tenant, membership, rows)


def _completed(standing: _Standing) -> _Standing:
    """A standing whose plan the one statement could not give (no live subscription yet, or a manual
    period that ended): the subscription made or rolled forward, then read apart."""
    if standing.rows is not None:
        return standing
    return _Standing(standing.tenant, standing.membership, _send_rows(standing.membership))


def _sending_standing(user, tenant_id: uuid.UUID | None) -> _Standing:
    """The user's standing in the organisation a conversation bills to (None: their personal one),
    which they must be allowed to bill: one statement on the usual path."""
    _pairs, standing = _read_standing(user, tenant_id, every_membership=False)
    if standing is None or standing.membership.role not in SENDING_ROLES:
        # Not a member (NotFound), a viewer (Forbidden), or no personal organisation yet (made now).
        membership = organisations.sending_membership(user, tenant_id)
        return _Standing(organisations.get_organisation(membership.tenant_id), membership, _send_rows(membership))
    return _completed(standing)


def check_can_send(user, tenant_id: uuid.UUID | None) -> uuid.UUID:
    """Refuse (LimitReached) asking for an answer billed to the organisation when it is past a hard
    limit or the user past their member cap; NotFound/Forbidden when the user may not bill it. None
    means the personal organisation. Returns the organisation's id. Writes nothing itself, except
    the personal organisation and its Free subscription the first time they are needed. One query
    on the usual path (the membership, the plan's limits and the usage together)."""
    standing = _sending_standing(user, tenant_id)
    for row in standing.rows:
        if row.state == "exceeded":
            raise _refusal(standing.tenant, row)
    return standing.tenant.id


def _sentences(standing: _Standing) -> list[str]:
    sentences = []
    for row in standing.rows:
        if row.state == "exceeded":
            sentences.append(_refusal(standing.tenant, row).message)
        elif row.state == "warning":
            limit = row.hard_limit if row.hard_limit is not None else row.soft_limit
            sentences.append(f"{standing.tenant.name} is nearing its limit of {row.display_name.lower()}: "
                             f"{used_of_limit(row.unit, row.used, limit)} used.")
    return sentences


def warnings(user, tenant_id: uuid.UUID | None) -> list[str]:
    """Sentences for the chat page's banner: each send limit past its soft limit (or reached)."""
    try:
        standing = _sending_standing(user, tenant_id)
    except DomainError:  # a banner never breaks the page (a membership removed since, say)
        return []
    return _sentences(standing)


@dataclass(frozen=True)
class ChatBilling:
    """What the chat page shows of billing: the organisations to bill (personal first) and the banner."""
    choices: list[tuple[TenantAccount, str]]
    warnings: list[str]


def for_chat_page(user, tenant_id: uuid.UUID | None) -> ChatBilling:
    """The "Bill to" choices and the banner's sentences for a conversation billed to `tenant_id`
    (None: personal): one query on the usual path, the memberships of the picker carrying the billed
    organisation's limits and usage."""
    memberships, standing = _read_standing(user, tenant_id, every_membership=True)
    if not memberships or not memberships[0][0].is_personal:
        subscriptions.personal_organisation(user.id, user.email)  # made on first need, then read again
        memberships, standing = _read_standing(user, tenant_id, every_membership=True)
    choices = [(tenant, membership.role) for tenant, membership in memberships if membership.role in SENDING_ROLES]
    if standing is None or standing.membership.role not in SENDING_ROLES:
        lost = [] if tenant_id is None else [
            "This conversation bills to an organisation you can no longer bill: choose another one in its settings."]
        return ChatBilling(choices, lost)
    return ChatBilling(choices, _sentences(_completed(standing)))


def _hard_limit(tenant_id: uuid.UUID, key: str) -> int | None:
    feature = _plan_of(tenant_id).features.get(key)
    return feature.hard_limit if feature else None


def check_members(tenant_id: uuid.UUID, adding: int = 1) -> None:
    """Refuse adding members past the plan's member limit."""
    limit = _hard_limit(tenant_id, "members")
    if limit is not None and organisations.member_count(tenant_id) + adding > limit:
        tenant = organisations.get_organisation(tenant_id)
        raise LimitReached(f"{tenant.name} has reached its plan's limit of {limit:,} members. "
                           f"See {BILLING_URL} to upgrade the plan.", "members")


def check_can_create_project(user) -> None:
    """Refuse a new project past the personal organisation's project limit."""
    tenant = subscriptions.personal_organisation(user.id, user.email)
    limit = _hard_limit(tenant.id, "projects")
    if limit is not None and _owned_projects(user.id)[0] >= limit:
        raise LimitReached(f"Your plan allows {limit:,} projects and you have reached it. "
                           f"See {BILLING_URL} to upgrade the plan, or delete a project.", "projects")


def check_storage(user) -> None:
    """Refuse (after the caller flushed its new files) when the user's projects now hold more than
    the personal organisation's storage limit; the caller rolls back."""
    tenant = subscriptions.personal_organisation(user.id, user.email)
    limit = _hard_limit(tenant.id, "storage")
    if limit is not None:
        used = _owned_projects(user.id)[1]
        if used > limit:
            raise LimitReached(f"Nothing was imported: your projects would hold {format_quantity('bytes', used)}, "
                               f"more than your plan's {format_quantity('bytes', limit)}. "
                               f"See {BILLING_URL} to upgrade the plan.", "storage")


def member_rows(tenant_id: uuid.UUID, memberships: list[TenantMembership]) -> dict[uuid.UUID, tuple[int, int]]:
    """{membership id: (tokens, cost micros)} this calendar month, for the members page."""
    month = metering.month_start(utcnow().date())
    keys = {m.id: metering.bucket_key(tenant_id, m.user_id, "month", month) for m in memberships}
    counters = metering.counter_values(list(keys.values())) if keys else {}
    result = {}
    for membership_id, key in keys.items():
        row = counters.get(key)
        result[membership_id] = ((row.input_tokens + row.output_tokens, row.cost_micros) if row else (0, 0))
    return result
