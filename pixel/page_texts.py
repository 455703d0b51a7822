"""The recipient pages' texts in each language, the language a request gets, the masked address.

The texts are product texts, the same for every site (a site's name and list fill their
placeholders), so they live in one data file of the email half (``pixel/data/pages.toml``)
rather than in each site's banner texts. The file is checked whole when the app starts:
every language has every key, and each key names the same placeholders in every language,
so no translation can drop the list a recipient is leaving.
"""

import string
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import ConfigError
from core.validation import describe

PAGES_FILE = Path(__file__).resolve().parent / "data" / "pages.toml"
FALLBACK = "en"
PLACEHOLDERS = frozenset({"site", "list", "address"})
MASK = "•••"


class PageTexts(BaseModel):
    """Everything the pages say, in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str  # the language's name in itself, for the language links
    title: str
    for_address: str
    intro: str
    legend: str
    choice_list: str
    choice_all: str
    choice_tracking: str
    submit: str
    state_list: str
    state_all: str
    state_tracking: str
    nothing_changed: str
    done_title: str
    done_list: str
    done_all: str
    done_tracking: str
    change: str
    invalid_title: str
    invalid_body: str
    language: str


def load_page_texts(path: Path = PAGES_FILE) -> dict[str, PageTexts]:
    """Read and check the texts file; raise ConfigError naming the language and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the email page texts: {e}") from e
    texts: dict[str, PageTexts] = {}
    for language, table in raw.items():
        try:
            texts[language] = PageTexts.model_validate(table)
        except ValidationError as e:
            raise ConfigError(f"{path}: {describe(e, (language,))}") from e
    if FALLBACK not in texts:
        raise ConfigError(f"{path}: the texts need a [{FALLBACK}] table")
    reference = _placeholders(texts[FALLBACK])
    for language, page in texts.items():
        for key, names in _placeholders(page).items():
            if not names <= PLACEHOLDERS or names != reference[key]:
                raise ConfigError(
                    f"{path}: {language}.{key} names {sorted(names)}; "
                    f"{FALLBACK}.{key} names {sorted(reference[key])}"
                )
    return texts


def _placeholders(page: PageTexts) -> dict[str, set[str]]:
    found = {}
    for key, text in page.model_dump().items():
        try:
            found[key] = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as e:
            found[key] = {f"<{e}>"}  # an unpaired brace: reported as a placeholder nobody has
    return found


def pick_language(texts: dict[str, PageTexts], requested: list[str], default: str) -> str:
    """The first requested language there are texts for (``de-AT`` falls back to ``de``).

    ``default`` (the site's) comes next, then English.
    """
    for tag in requested:
        base = tag.split("-", 1)[0].lower()
        if base in texts:
            return base
    return default if default in texts else FALLBACK


def mask_address(address: str | None) -> str | None:
    """``jane@example.com`` as ``j•••@example.com``: enough to recognise, not to read.

    The local part shows only its first character, whatever its length; None for none.
    """
    if not address:
        return None
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return MASK
    return f"{local[0]}{MASK}@{domain}"
