"""Region resolution: a trusted header (or the site's fallback) -> the site's matching rule."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from consent.sites import STRICTNESS, Site

EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
# Values proxies send when they do not know the country (Cloudflare: XX unknown, T1 Tor).
_UNKNOWN = frozenset({"XX", "T1", "ZZ"})
STRICTEST_RULE = "strictest-default"


@dataclass(frozen=True)
class RegionMatch:
    """Where the visitor is and which of the site's rules applies."""

    code: str  # "" when unknown
    rule: str
    model: str


def region_code(headers: Mapping[str, str], header_names: list[str]) -> str:
    """Return the first usable country or subdivision code from the trusted headers."""
    for name in header_names:
        value = (headers.get(name) or "").strip().upper()
        if _CODE.fullmatch(value) and value not in _UNKNOWN:
            return value
    return ""


def resolve_region(code: str, site: Site) -> RegionMatch:
    """Apply the site's rules to a region code; an unknown region gets the strictest model."""
    code = code or site.fallback_region or ""
    if code:
        for rule in site.regions:
            if any(_covers(pattern, code) for pattern in rule.regions):
                return RegionMatch(code, rule.name, rule.model)
    models = [rule.model for rule in site.regions] or ["opt-in"]
    return RegionMatch(code, STRICTEST_RULE, min(models, key=STRICTNESS.__getitem__))


def _covers(pattern: str, code: str) -> bool:
    country = code.split("-", 1)[0]
    if pattern == "*":
        return True
    if pattern == "EEA":
        return country in EEA
    # "US" covers every US state; "US-CA" covers only California.
    return pattern == code or ("-" not in pattern and pattern == country)
