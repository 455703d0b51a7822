"""The report operations in the OpenAPI document (core.openapi adds the 401 and 405)."""

from analytics import schemas as s
from core.openapi import Op, parameter

DATES = (
    parameter(
        "from",
        "query",
        "First day (UTC) of the range, inclusive; default: 29 days before `to`. A range "
        "that ends before it starts has no rows.",
        format="date",
        example="2026-11-01",
    ),
    parameter(
        "to", "query", "Last day (UTC) of the range, inclusive; default: today.", format="date"
    ),
)
FORMAT = parameter(
    "format",
    "query",
    "`json` (default) or `csv` (one row per group, dotted columns).",
    enum=["json", "csv"],
)
BAD_PARAMETER = {400: "A parameter is malformed (a date is YYYY-MM-DD)"}
CSV = {"text/csv": {"type": "string"}}

OPERATIONS = [
    Op("get", "/api/v1/reports/consent-rates", "Consent rates per site",
       "Impressions and decisions per site (and day, region), rates per impression and per "
       "visitor (distinct consent ids; an impression without a decision counts as one "
       "visitor), no action kept apart from rejected, opt-in per category, signal share. "
       "Exact: merged from uniqExact rollups. Definitions: docs/analytics.md.",
       parameters=(
           parameter("site", "query", "Only this site.", pattern=s.SITE_ID, example="demo"),
           *DATES,
           parameter("group_by", "query", "Also group by `day`, `region` or `day,region`.",
                     pattern=s.CONSENT_GROUP_BY, example="day"),
           FORMAT,
       ),
       answer=s.ConsentRatesOut, media=CSV, errors=BAD_PARAMETER, auth=True),
    Op("get", "/api/v1/reports/open-rates", "Email rates per campaign",
       "Per campaign (and send day) for the messages sent in the range: sent, opens, unique "
       "opens by agent class, machine opens, engaged (a human or mail-proxy open, or a human "
       "click) and the engagement rate (the headline), clicks, unsubscribes; per unique "
       "message. Exact: merged from uniqExact rollups. Definitions: docs/analytics.md.",
       parameters=(
           parameter("campaign", "query", "Only this campaign.", pattern=s.CAMPAIGN,
                     example="2026-11-newsletter"),
           *DATES,
           parameter("group_by", "query", "Also group by `day` (the send day).",
                     pattern=s.EMAIL_GROUP_BY, example="day"),
           FORMAT,
       ),
       answer=s.OpenRatesOut, media=CSV, errors=BAD_PARAMETER, auth=True),
]  # fmt: skip
