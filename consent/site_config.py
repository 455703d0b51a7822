"""The config a banner needs, resolved for one visitor's region, language and signals."""

from consent.regions import RegionMatch
from consent.schemas import SiteConfigOut
from consent.signals import Signals
from consent.sites import NECESSARY, Site

COOKIE_NAME = "consentry"


def pick_language(site: Site, requested: list[str]) -> str:
    """Take the first requested language the site has (``de-AT`` falls back to ``de``)."""
    for tag in requested:
        tag = tag.strip()
        for candidate in (tag, tag.split("-")[0].lower()):
            if candidate in site.texts:
                return candidate
    return site.default_language


def resolve_config(
    site: Site, region: RegionMatch, language: str, signals: Signals
) -> SiteConfigOut:
    """Build the banner's config: texts, categories, inventory, region model, signals."""
    return SiteConfigOut.model_validate(
        {
            "site": site.id,
            "name": site.name,
            "policy_version": site.policy_version,
            "policy_url": site.policy_url,
            "language": language,
            "languages": list(site.languages),
            "region": {"code": region.code, "rule": region.rule, "model": region.model},
            "signals": {
                "dnt": signals.dnt,
                "gpc": signals.gpc,
                "policy": site.signal_policy,
                "honoured": signals.honoured(site.signal_policy),
            },
            "texts": site.texts[language],
            "texts_hash": site.texts_hash(language),
            "categories": [
                {
                    "id": category_id,
                    "necessary": category_id == NECESSARY,
                    "cookies": category.cookies,
                }
                for category_id, category in site.categories.items()
            ],
            "remember_choice": site.remember_choice,
            "settings_button": site.settings_button,
            "lifetime": site.lifetime,
            "cookie": {"name": COOKIE_NAME, "domain": site.cookie_domain},
            "consent_mode": dict(site.consent_mode),
        }
    )
