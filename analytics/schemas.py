"""The report API's query parameters and answers, as pydantic models (and so OpenAPI)."""

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

SITE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"  # as the sites file names a site
CAMPAIGN = r"^[^\x00-\x1f\x7f]{1,200}$"
CONSENT_GROUP_BY = r"^(day|region)(,(day|region))?$"
EMAIL_GROUP_BY = r"^day$"
Rate = float | None  # None: nothing to divide by
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # Pydantic would also read "0" or "1700000000" as a Unix time: only YYYY-MM-DD here.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("a date is YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class ReportParams(BaseModel):
    """What every report takes: a date range (inclusive, UTC days), groups, a format."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    start: IsoDate | None = Field(None, alias="from")
    end: IsoDate | None = Field(None, alias="to")
    format: Literal["json", "csv"] = "json"


class ConsentRatesParams(ReportParams):
    site: str | None = Field(None, pattern=SITE_ID)
    group_by: str | None = Field(None, pattern=CONSENT_GROUP_BY)


class OpenRatesParams(ReportParams):
    campaign: str | None = Field(None, pattern=CAMPAIGN)
    group_by: str | None = Field(None, pattern=EMAIL_GROUP_BY)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CategoryRate(_Out):
    """Opt-in for one optional category: per decision that answered it, and per visitor."""

    decisions: int
    opt_ins: int
    opt_in_rate: Rate
    visitors: int
    opted_in_visitors: int
    visitor_opt_in_rate: Rate


class ConsentRateRow(_Out):
    """Consent rates of one site (and day, region when grouped by them)."""

    site: str
    day: date | None = None
    region: str | None = None
    impressions: int
    decisions: int
    accept_all: int
    reject_all: int
    custom: int
    withdraw: int
    gpc: int
    dnt: int
    no_action: int
    consenting_decisions: int
    accept_all_rate: Rate
    reject_all_rate: Rate
    custom_rate: Rate
    no_action_rate: Rate
    consent_rate: Rate
    visitors: int
    visitors_accept_all: int
    visitors_reject_all: int
    visitors_custom: int
    consenting_visitors: int
    visitors_reached: int
    visitor_accept_all_rate: Rate
    visitor_reject_all_rate: Rate
    visitor_custom_rate: Rate
    visitor_no_action_rate: Rate
    visitor_consent_rate: Rate
    signal_events: int
    signal_share: Rate
    categories: dict[str, CategoryRate]


class OpenRateRow(_Out):
    """Email rates of one campaign (and send day when grouped by day), per unique message."""

    campaign: str
    day: date | None = None
    sent: int
    aggregate_sent: int
    opens: int
    unique_opens: int
    unique_opens_by_class: dict[str, int]
    human_opens: int
    machine_opens: int
    machine_share: Rate
    engaged: int
    engagement_rate: Rate
    open_rate: Rate
    clicks: int
    unique_clicks: int
    human_clicks: int
    click_rate: Rate
    unsubscribes: int
    unsubscribe_rate: Rate
    tracking_optouts: int


class _Report(_Out):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    group_by: list[str]


class ConsentRatesOut(_Report):
    """The consent-rates report."""

    site: str | None
    rows: list[ConsentRateRow]


class OpenRatesOut(_Report):
    """The open-rates report."""

    campaign: str | None
    rows: list[OpenRateRow]
