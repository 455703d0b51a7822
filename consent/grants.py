"""What a consent id grants now, for the email half's web beacon (SPEC §3.5).

The halves meet only through the app shell, so the beacon never imports this module:
``consent.init_app`` puts a :class:`ConsentGrants` into ``app.extensions["consent_grants"]``
and the beacon calls it there. What "currently grants" means is consent's to say: the
consent id's latest record on that site grants the category, under the site's current
policy version (an outdated record is re-asked by the banner, so it grants nothing until
answered), and has not expired. A session-long record has no expiry the server can see:
it grants until a later record says otherwise.
"""

from datetime import datetime

from sqlalchemy import bindparam, select

from consent.models import ConsentRecord
from consent.sites import SiteRegistry
from core.db import db
from core.times import as_utc

_LATEST = (
    select(ConsentRecord.choices, ConsentRecord.policy_version, ConsentRecord.expires_at)
    .where(
        ConsentRecord.consent_id == bindparam("consent_id"),
        ConsentRecord.site_id == bindparam("site_id"),
    )
    .order_by(ConsentRecord.seq.desc())
    .limit(1)
)


class ConsentGrants:
    """Tell whether a consent id currently grants a category on a site (one indexed read)."""

    def __init__(self, sites: SiteRegistry) -> None:
        self._sites = sites

    def __call__(self, site_id: str, consent_id: str, category: str, now: datetime) -> bool:
        site = self._sites.get(site_id)
        if site is None or category not in site.categories:
            return False
        with db.engine.connect() as conn:
            row = conn.execute(_LATEST, {"consent_id": consent_id, "site_id": site_id}).first()
        if row is None:
            return False
        choices, policy_version, expires_at = row
        if policy_version != site.policy_version:
            return False
        expires = as_utc(expires_at)
        if expires is not None and expires <= now:
            return False
        return bool(choices.get(category))
