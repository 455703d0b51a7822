"""Report queries over the rollup tables: exact counts from uniqExact states.

Consent numbers merge states (set unions over days, regions, actions); email numbers add
up the numbers of send days, since a message has exactly one (0005 says why), each read
from its seal or its finalized states (analytics.sealing). Each consent report is one
query per rollup table, grouped by the dimensions asked for; rates are computed here from
the counts (a rate over an empty denominator is None, never 0).
Values are bound as ``{name:Type}`` parameters; grouping columns come from a fixed list.
Definitions of every number are in docs/analytics.md.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from analytics.sealing import AGENT_CLASSES, EMAIL_NUMBERS, STATES, group_numbers
from events.protocols import EventStore

CONSENT_DIMENSIONS = ("day", "region")
EMAIL_DIMENSIONS = ("day",)
ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc", "dnt")
BANNER_ACTIONS = ("accept_all", "reject_all", "custom")  # the answers to a shown banner
HUMAN_OPEN_CLASSES = ("human", "mail_proxy")  # a person opened it (a proxy fetches for them)


@dataclass(frozen=True)
class ReportQuery:
    """What a report covers: one subject (site or campaign) or all, a date range, groups."""

    start: date
    end: date
    subject: str | None = None
    group_by: tuple[str, ...] = ()


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return part / whole if whole else None


# A selected count: (expression, name).
Count = tuple[str, str]


def _merge(state: str, condition: str, name: str) -> Count:
    return f"uniqExactMergeIf({state}, {condition})", name


def _report_rows(
    store: EventStore,
    table: str,
    columns: Sequence[str],
    day_column: str,
    counts: Sequence[Count],
    query: ReportQuery,
) -> list[dict[str, Any]]:
    """Run one grouped query over a rollup table; rows as dicts named by column and count."""
    where, parameters = _where(columns[0], day_column, query)
    group = ", ".join(columns)
    # Aliased apart from the state columns: an alias named like one would shadow it.
    select = ", ".join([*columns, *(f"{expr} AS count_{i}" for i, (expr, _) in enumerate(counts))])
    # Names come from this module's fixed lists; every value is a bound parameter.
    sql = f"SELECT {select} FROM {table} WHERE {where} GROUP BY {group} ORDER BY {group}"  # noqa: S608
    names = [*columns, *(name for _, name in counts)]
    return [dict(zip(names, row, strict=True)) for row in store.query(sql, parameters)]


def _where(subject: str, day_column: str, query: ReportQuery) -> tuple[str, dict[str, Any]]:
    """The condition a report puts on a rollup's rows (days, subject) and its parameters."""
    where = f"{day_column} BETWEEN {{start:Date}} AND {{end:Date}}"
    if query.subject is not None:
        where += f" AND {subject} = {{subject:String}}"
    return where, {"start": query.start, "end": query.end, "subject": query.subject or ""}


def _columns(subject: str, query: ReportQuery, day_column: str) -> list[str]:
    allowed = CONSENT_DIMENSIONS if subject == "site" else EMAIL_DIMENSIONS
    if not set(query.group_by) <= set(allowed):
        raise ValueError(f"group_by: {subject} reports group by {', '.join(allowed)}")
    return [subject, *(day_column if g == "day" else g for g in query.group_by)]


# ---- consent ------------------------------------------------------------------------

_CONSENT_COUNTS = [
    _merge("events", "kind = 'impression'", "impressions"),
    _merge("events", "kind = 'decision'", "decisions"),
    *(_merge("events", f"kind = 'decision' AND action = '{a}'", a) for a in ACTIONS),
    _merge("consenting_events", "kind = 'decision'", "consenting_decisions"),
    ("uniqExactMerge(signal_events)", "signal_events"),
    _merge("visitors", "kind = 'decision'", "visitors"),
    *(
        _merge("visitors", f"kind = 'decision' AND action = '{a}'", f"visitors_{a}")
        for a in BANNER_ACTIONS
    ),
    _merge("consenting_visitors", "kind = 'decision'", "consenting_visitors"),
]
_CATEGORY_COUNTS = [
    ("uniqExactMerge(decisions)", "category_decisions"),
    ("uniqExactMerge(opt_ins)", "opt_ins"),
    ("uniqExactMerge(visitors)", "category_visitors"),
    ("uniqExactMerge(opted_in_visitors)", "opted_in_visitors"),
]


def consent_rates(store: EventStore, query: ReportQuery) -> list[dict[str, Any]]:
    """Consent rates per site (and day, region): per impression, per visitor, per category."""
    columns = _columns("site", query, "day")
    rows = _report_rows(store, "consent_daily", columns, "day", _CONSENT_COUNTS, query)
    by_key = {_key(row, query): _consent_rates(row) for row in rows}
    categories = _report_rows(
        store, "consent_category_daily", [*columns, "category"], "day", _CATEGORY_COUNTS, query
    )
    for counts in categories:
        report = by_key.get(_key(counts, query))
        if report is not None:
            report["categories"][counts["category"]] = {
                "decisions": counts["category_decisions"],
                "opt_ins": counts["opt_ins"],
                "opt_in_rate": rate(counts["opt_ins"], counts["category_decisions"]),
                "visitors": counts["category_visitors"],
                "opted_in_visitors": counts["opted_in_visitors"],
                "visitor_opt_in_rate": rate(
                    counts["opted_in_visitors"], counts["category_visitors"]
                ),
            }
    return list(by_key.values())


def _key(row: dict[str, Any], query: ReportQuery) -> tuple[Any, ...]:
    return (row["site"], *(row[g] for g in query.group_by))


def _consent_rates(row: dict[str, Any]) -> dict[str, Any]:
    impressions = row["impressions"]
    answered = sum(row[a] for a in BANNER_ACTIONS)
    no_action = max(impressions - answered, 0)
    reached = row["visitors"] + no_action
    report = dict(row)
    report.update(
        no_action=no_action,
        accept_all_rate=rate(row["accept_all"], impressions),
        reject_all_rate=rate(row["reject_all"], impressions),
        custom_rate=rate(row["custom"], impressions),
        no_action_rate=rate(no_action, impressions),
        consent_rate=rate(row["consenting_decisions"], impressions),
        visitors_reached=reached,
        visitor_accept_all_rate=rate(row["visitors_accept_all"], reached),
        visitor_reject_all_rate=rate(row["visitors_reject_all"], reached),
        visitor_custom_rate=rate(row["visitors_custom"], reached),
        visitor_no_action_rate=rate(no_action, reached),
        visitor_consent_rate=rate(row["consenting_visitors"], reached),
        signal_share=rate(row["signal_events"], impressions + row["decisions"]),
        categories={},
    )
    return report


# ---- email --------------------------------------------------------------------------

# On a cluster a key's rows sit on several shards, which FINAL does not merge: the states
# of each campaign and send day are merged first (across shards: a set union), then summed.
_SHARDED_SOURCE = (
    "(SELECT campaign, send_day, "  # noqa: S608 (names from sealing.STATES; no value)
    + ", ".join(f"uniqExactMerge({state}) AS n_{state}" for state in STATES)
    + " FROM email_daily GROUP BY campaign, send_day)"
)
_SHARDED_COUNTS = [(f"sum(n_{state})", name) for state, name in EMAIL_NUMBERS]


def open_rates(
    store: EventStore, query: ReportQuery, *, sharded: bool = False
) -> list[dict[str, Any]]:
    """Open, engagement, click and unsubscribe rates per campaign (and send day).

    ``sharded``: the tables are Distributed over a cluster (CONSENTRY_CLICKHOUSE_CLUSTER).
    """
    columns = _columns("campaign", query, "send_day")
    if sharded:
        rows = _report_rows(store, _SHARDED_SOURCE, columns, "send_day", _SHARDED_COUNTS, query)
    else:
        rows = _sum_send_days(store, columns, query)
    return [_email_rates(row) for row in rows]


def _sum_send_days(store: EventStore, columns: list[str], query: ReportQuery) -> list[dict]:
    """The numbers of each group (analytics.sealing), named as the report names them."""
    where, parameters = _where("campaign", "send_day", query)
    return [
        dict(zip(columns, key, strict=True)) | {name: n[state] for state, name in EMAIL_NUMBERS}
        for key, n in group_numbers(store, columns, where, parameters).items()
    ]


def _email_rates(row: dict[str, Any]) -> dict[str, Any]:
    report = {k: v for k, v in row.items() if not k.startswith("opened_by_")}
    if "send_day" in report:
        report["day"] = report.pop("send_day")
    sent = row["sent"]
    machine = row["unique_opens"] - row["human_opens"]
    report.update(
        unique_opens_by_class={c: row[f"opened_by_{c}"] for c in AGENT_CLASSES},
        machine_opens=machine,
        machine_share=rate(machine, row["unique_opens"]),
        open_rate=rate(row["unique_opens"], sent),
        engagement_rate=rate(row["engaged"], sent),
        click_rate=rate(row["unique_clicks"], sent),
        unsubscribe_rate=rate(row["unsubscribes"], sent),
    )
    return report
