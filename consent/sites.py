"""Sites: the sites file (TOML), checked whole at start-up, and the in-memory registry.

A broken file stops start-up with a SitesFileError naming the file, the key and the fault.
"""

import fnmatch
import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from core import jsoncodec
from core.config import ConfigError
from core.validation import describe

SITE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
CATEGORY_ID = r"^[a-z][a-z0-9_]{0,31}$"
LANGUAGE = r"^[a-z]{2}(-[A-Z]{2})?$"
NECESSARY = "necessary"
CONSENT_MODE_TYPES = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
)
Model = Literal["opt-in", "opt-out", "notice"]
# Lower is stricter: an unknown region gets the strictest model a site configures.
STRICTNESS = {"opt-in": 0, "opt-out": 1, "notice": 2}
# The port as RFC 6454 serialises it: 1-65535, no leading zero, never the scheme's default.
_ORIGIN = re.compile(r"^(https?)://(\*\.)?[a-z0-9.-]+(?::([1-9][0-9]{0,4}|\*))?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class SitesFileError(ConfigError):
    """The sites file cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Cookie(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    provider: Annotated[str, Field(min_length=1)]
    purpose: Annotated[str, Field(min_length=1)]
    type: Literal["session", "persistent"]
    duration: Annotated[str, Field(min_length=1)]

    def matches(self, cookie_name: str) -> bool:
        """Tell whether a cookie name is this entry (``*`` in a name is a wildcard)."""
        return fnmatch.fnmatchcase(cookie_name, self.name)


class Category(_Strict):
    cookies: list[Cookie] = []


class CategoryText(_Strict):
    title: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]


class Texts(_Strict):
    title: str
    description: str
    accept_all: str
    reject_all: str
    manage: str
    save: str
    remember: str
    cookie_settings: str
    do_not_sell: str
    gpc_honoured: str
    categories: dict[str, CategoryText]


class RegionRule(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    regions: list[Annotated[str, Field(pattern=r"^(\*|EEA|[A-Z]{2}(-[A-Z0-9]{1,3})?)$")]]
    model: Model


class Lifetime(_Strict):
    accept_days: Annotated[int, Field(gt=0, le=3650)] = 180
    reject_days: Annotated[int, Field(gt=0, le=3650)] = 180


class Proof(_Strict):
    store_ip_prefix: bool = False
    store_ua_family: bool = False


class Site(_Strict):
    """One site's configuration as written in the sites file."""

    id: Annotated[str, Field(pattern=SITE_ID)]
    name: Annotated[str, Field(min_length=1)]
    origins: list[str]
    cookie_domain: str | None = None
    policy_version: Annotated[str, Field(min_length=1, max_length=64)]
    policy_url: Annotated[str, Field(min_length=1)]
    default_language: Annotated[str, Field(pattern=LANGUAGE)]
    remember_choice: bool = False
    # A floating "Cookie settings" button once a decision is made; pages can also mark any
    # element with data-consentry-settings to reopen the preferences.
    settings_button: bool = True
    signal_policy: Literal["strict", "gpc"] = "strict"
    fallback_region: Annotated[str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")] | None = None
    lifetime: Lifetime = Lifetime()
    proof: Proof = Proof()
    regions: list[RegionRule] = []
    consent_mode: dict[str, list[str]] = {}
    categories: dict[Annotated[str, Field(pattern=CATEGORY_ID)], Category]
    texts: dict[Annotated[str, Field(pattern=LANGUAGE)], Texts]
    _texts_hashes: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _is_origin(origin):
                raise ValueError(
                    f"{origin!r} is not an origin like https://example.com, "
                    "https://*.example.com or http://localhost:*"
                )
        return origins

    @model_validator(mode="after")
    def _check_references(self) -> "Site":
        if NECESSARY not in self.categories:
            raise ValueError("categories must include 'necessary'")
        if self.default_language not in self.texts:
            raise ValueError(f"default_language {self.default_language!r} has no texts")
        for language, texts in self.texts.items():
            missing = set(self.categories) - set(texts.categories)
            extra = set(texts.categories) - set(self.categories)
            if missing or extra:
                raise ValueError(
                    f"texts.{language}.categories must name exactly the site's categories "
                    f"(missing: {sorted(missing)}, unknown: {sorted(extra)})"
                )
        for gcm_type, categories in self.consent_mode.items():
            if gcm_type not in CONSENT_MODE_TYPES:
                raise ValueError(f"consent_mode.{gcm_type} is not a Consent Mode v2 type")
            unknown = set(categories) - set(self.categories)
            if unknown:
                raise ValueError(f"consent_mode.{gcm_type} names unknown categories {unknown}")
        return self

    @property
    def optional_categories(self) -> tuple[str, ...]:
        return tuple(c for c in self.categories if c != NECESSARY)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def allows_origin(self, origin: str) -> bool:
        """Tell whether a page at ``origin`` may use this site's API."""
        return any(origin_matches(pattern, origin) for pattern in self.origins)

    def texts_hash(self, language: str) -> str:
        """SHA-256 of the exact texts shown in ``language``: proof of what was asked."""
        return self._texts_hashes[language]

    def model_post_init(self, context: object, /) -> None:
        # Hashed once at load: every decision stores the hash of the texts it answered.
        hashes = {}
        for language, texts in self.texts.items():
            shown = {
                "texts": texts.model_dump(),
                "categories": {c: self.categories[c].model_dump() for c in self.categories},
                "policy_version": self.policy_version,
                "policy_url": self.policy_url,
            }
            hashes[language] = hashlib.sha256(jsoncodec.canonical(shown)).hexdigest()
        self._texts_hashes = hashes


def _is_origin(text: str) -> bool:
    """Tell whether ``text`` is an origin (or pattern) a browser could send (or match)."""
    match = _ORIGIN.fullmatch(text)
    if match is None:
        return False
    scheme, _, port = match.groups()
    return port is None or port == "*" or (int(port) <= 65535 and port != _DEFAULT_PORTS[scheme])


def origin_matches(pattern: str, origin: str) -> bool:
    """Match an origin against ``scheme://host[:port]``, ``:*`` any port, ``*.`` subdomains."""
    if "*" in origin or not _is_origin(origin):
        return False
    scheme, _, rest = pattern.partition("://")
    o_scheme, _, o_rest = origin.partition("://")
    if scheme != o_scheme or not o_rest:
        return False
    host, _, port = rest.partition(":")
    o_host, _, o_port = o_rest.partition(":")
    if port == "*":
        if o_port and not o_port.isdigit():
            return False
    elif port != o_port:
        return False
    if host.startswith("*."):
        return o_host.endswith(host[1:]) and len(o_host) > len(host) - 1
    return host == o_host


class _SitesFile(_Strict):
    sites: dict[Annotated[str, Field(pattern=SITE_ID)], dict] = {}


@dataclass(frozen=True)
class SiteRegistry:
    """The configured sites, by id."""

    sites: dict[str, Site]

    def get(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    @cached_property
    def _all_origins(self) -> tuple[str, ...]:
        return tuple(p for site in self.sites.values() for p in site.origins)

    def any_allows_origin(self, origin: str) -> bool:
        """Tell whether some site allows ``origin`` (CORS preflights carry no site)."""
        return any(origin_matches(p, origin) for p in self._all_origins)


def load_sites(path: str | Path) -> SiteRegistry:
    """Read and check the sites file; raise SitesFileError naming the key that is wrong."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SitesFileError(f"{path}: sites file not found (CONSENTRY_SITES_FILE)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise SitesFileError(f"{path}: cannot read the sites file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise SitesFileError(f"{path}: not valid TOML: {e}") from e
    try:
        top = _SitesFile.model_validate(raw)
    except ValidationError as e:
        raise SitesFileError(f"{path}: {describe(e)}") from e
    sites = {}
    for site_id, body in top.sites.items():
        try:
            sites[site_id] = Site.model_validate({"id": site_id, **body})
        except ValidationError as e:
            raise SitesFileError(f"{path}: {describe(e, ('sites', site_id))}") from e
    if not sites:
        raise SitesFileError(f"{path}: sites: at least one [sites.<id>] table is required")
    return SiteRegistry(sites)
