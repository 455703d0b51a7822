"""What each dashboard page shows, built from the analytics reports (never their SQL).

Plain functions of a store and a query, so they are tested without a request; the views
only parse parameters and render. Every number here is a report's number.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from markupsafe import Markup

from analytics import reports
from analytics.curve import CurvePoint, open_curve
from analytics.rollups import ReportQuery
from analytics.schemas import ConsentRateRow, OpenRateRow
from dashboard import charts
from events.protocols import EventStore


@dataclass
class EmailPanel:
    """The campaigns page: a row per campaign, and the chosen campaign's open curve."""

    query: ReportQuery
    campaigns: list[OpenRateRow]
    selected: OpenRateRow | None = None
    curve: list[CurvePoint] = field(default_factory=list)
    chart: Markup | None = None


@dataclass
class ConsentPanel:
    """The consent page: a row per site, and the chosen site's days and categories."""

    query: ReportQuery
    sites: list[ConsentRateRow]
    selected: ConsentRateRow | None = None
    days: list[ConsentRateRow] = field(default_factory=list)
    chart: Markup | None = None
    categories_chart: Markup | None = None


def _range(query: ReportQuery) -> str:
    return f"{query.start:%-d %b %Y} to {query.end:%-d %b %Y}"


def email_panel(store: EventStore, query: ReportQuery, campaign: str | None) -> EmailPanel:
    """Every campaign sent in the range; the curve of ``campaign`` (or the largest)."""
    everything = ReportQuery(query.start, query.end)
    rows = reports.open_report(store, everything).rows
    panel = EmailPanel(query, sorted(rows, key=lambda r: (-r.sent, r.campaign)))
    chosen = [r for r in rows if r.campaign == campaign] if campaign else panel.campaigns[:1]
    if not chosen:
        return panel
    panel.selected = chosen[0]
    one = ReportQuery(query.start, query.end, panel.selected.campaign)
    panel.curve = open_curve(store, one, panel.selected.sent)
    if panel.curve:
        panel.chart = _curve_chart(panel.selected, panel.curve, query)
    return panel


def _curve_chart(row: OpenRateRow, curve: list[CurvePoint], query: ReportQuery) -> Markup:
    last = curve[-1]
    return charts.line_chart(
        f"Open and engagement curve of {row.campaign}",
        f"Share of the {row.sent} messages sent {_range(query)} opened, and engaged with "
        f"by a person, within each number of days after the send. After day {last.age}: "
        f"opened {charts.percent(last.open_rate)}, engaged {charts.percent(last.engagement_rate)}.",
        [f"day {p.age}" for p in curve],
        [
            charts.Series("Opened (any)", [p.open_rate for p in curve], "s-opened"),
            charts.Series("Engaged", [p.engagement_rate for p in curve], "s-engaged"),
        ],
    )


SEGMENTS = (
    ("Accept all", "accept_all", "g-accept"),
    ("Custom", "custom", "g-custom"),
    ("Reject all", "reject_all", "g-reject"),
    ("No action", "no_action", "g-none"),
)


def consent_panel(store: EventStore, query: ReportQuery, site: str | None) -> ConsentPanel:
    """Every site shown a banner in the range; the days and categories of ``site``."""
    rows = reports.consent_report(store, ReportQuery(query.start, query.end)).rows
    panel = ConsentPanel(query, sorted(rows, key=lambda r: (-r.impressions, r.site)))
    chosen = [r for r in rows if r.site == site] if site else panel.sites[:1]
    if not chosen:
        return panel
    panel.selected = chosen[0]
    by_day = ReportQuery(query.start, query.end, panel.selected.site, ("day",))
    panel.days = reports.consent_report(store, by_day).rows
    if panel.days:
        panel.chart = _shares_chart(panel.selected.site, panel.days, query)
    if panel.selected.categories:
        panel.categories_chart = _categories_chart(panel.selected, query)
    return panel


def _shares_chart(site: str, days: list[ConsentRateRow], query: ReportQuery) -> Markup:
    filled = _every_day(days, query)
    labels = [f"{d:%-d %b}" for d in filled]
    segments = [
        charts.Segment(name, [_count(filled[d], key) for d in filled], css)
        for name, key, css in SEGMENTS
    ]
    total = sum(r.impressions for r in days)
    return charts.stacked_bars(
        f"Banner answers per day, {site}",
        f"For each day {_range(query)} with banner impressions, the share of impressions "
        f"answered accept all, custom, reject all, or left without an answer (no action), "
        f"of {total} impressions in all.",
        labels,
        segments,
    )


def _every_day(days: list[ConsentRateRow], query: ReportQuery) -> dict[date, ConsentRateRow | None]:
    """Days from the first to the last with data, gaps included (an empty day is a gap)."""
    known = {r.day: r for r in days if r.day is not None}
    if not known:
        return {}
    first, last = min(known), max(known)
    return {
        first + timedelta(n): known.get(first + timedelta(n))
        for n in range((last - first).days + 1)
    }


def _count(row: ConsentRateRow | None, key: str) -> int:
    return 0 if row is None else int(getattr(row, key))


def _categories_chart(row: ConsentRateRow, query: ReportQuery) -> Markup:
    bars = [
        (name, c.opt_in_rate, f"{c.opt_ins:,} of {c.decisions:,} decisions")
        for name, c in sorted(row.categories.items())
    ]
    return charts.bar_list(
        f"Opt-in per category, {row.site}",
        f"Share of decisions {_range(query)} that answered each optional category and "
        "opted in to it: " + "; ".join(f"{n} {charts.percent(s)}" for n, s, _ in bars) + ".",
        bars,
    )
