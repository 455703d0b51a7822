"""The recipient's pages: ``/u/<token>``, the one URL an email's unsubscribe link names.

``GET`` (and ``HEAD``) shows the preference page and never changes anything: security
scanners and link previews fetch every URL of a mail, and a tool that unsubscribed on GET
unsubscribed whole staff lists (FIELD-NOTES). ``POST`` changes things, in two forms:

- RFC 8058 one-click: a mailbox provider posts ``List-Unsubscribe=One-Click``
  (urlencoded or multipart), with no cookie and no login, and must get a 2xx and no
  redirect. The recipient leaves the message's list, at once, in this request.
- The page's own form posts ``choice=list|all|tracking`` to the same URL and gets the
  confirmation page (200, no redirect either).

No CSRF token, on purpose. A CSRF token protects an authority the browser adds by itself
(a session cookie) from being used by another site's form. Here nothing is ambient: the
signed token in the URL is the whole authority, a capability only the recipient's mail
holds, and RFC 8058 requires that knowing the URL be enough. A forged form would need
the URL, and whoever has the URL can already post the one-click body. So the form needs
nothing the URL does not already prove (SPEC §6 exempts this endpoint).

Every POST answers 200, whatever it carries. With a token that is not valid, or with no
body or no choice it knows, nothing changes and the page says so: a mailbox provider
treats any other status as a failed unsubscribe and may retry or blame the sender, and a
POST cannot tell a token's validity apart from a missing body by its status. (Probing is
moot anyway: a valid token cannot be guessed, it carries a keyed signature.) A body over
the size limit is still refused (413) before it is read.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template, request

from core.db import db, write_transaction
from events import SpoolFull
from pixel import preferences, tokens
from pixel.page_texts import PageTexts, mask_address, pick_language
from pixel.preferences import Choice, Subscription

log = logging.getLogger(__name__)
bp = Blueprint("email_pages", __name__)

ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058 §3.1: the whole body
_CHOICES: dict[str, Choice] = {"list": "list", "all": "all", "tracking": "tracking"}
PAGE_HEADERS = {
    # The page is one person's; its URL acts for them, so it leaves no trace in caches,
    # in Referer headers, or in search engines.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


@bp.get("/u/<token>")
def show_preferences(token: str):
    """Show the preference page: the masked address, the three choices; changes nothing."""
    sub = _subscription(_message_id(token))
    if sub is None:
        return _invalid(404)
    return _preferences(sub)


@bp.post("/u/<token>")
def record_choice(token: str):
    """Record a one-click unsubscribe or the page's choice; always 200, never a redirect.

    ``List-Unsubscribe=One-Click`` (RFC 8058, urlencoded or multipart) leaves the
    message's list, and wins over any other field; otherwise ``choice`` is ``list``,
    ``all`` or ``tracking``. A token that is not valid, a missing body or an unknown
    choice changes nothing and is answered 200 all the same.
    """
    message_id = _message_id(token)
    if message_id is None:
        return _invalid(200)
    method, choice = _choice()
    if choice is None:
        sub = _subscription(message_id)
        return _preferences(sub, notice=True) if sub is not None else _invalid(200)
    keys = current_app.config["SECRET_KEYS"]
    with write_transaction() as conn:
        applied = preferences.apply_choice(
            conn, keys, message_id, choice, method, datetime.now(UTC)
        )
    if applied is None:
        return _invalid(200)
    sub, events = applied
    _emit(events)
    return _done(sub, choice)


def _choice() -> tuple[str, Choice | None]:
    """The method and choice a POST's form says; no choice for anything else."""
    form = request.form
    if form.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        return "one_click", "list"
    return "page", _CHOICES.get(form.get("choice", ""))


def _message_id(token: str) -> str | None:
    return tokens.read_message(current_app.config["SECRET_KEYS"], tokens.UNSUBSCRIBE, token)


def _subscription(message_id: str | None) -> Subscription | None:
    if message_id is None:
        return None
    with db.engine.connect() as conn:
        return preferences.find_subscription(conn, message_id)


def _emit(events: list[dict]) -> None:
    sink = current_app.extensions["events"]
    for row in events:
        try:
            sink.emit("email_events", row)
        except (SpoolFull, OSError) as error:
            # The choice is committed and in force (minting and hits read the SQL rows);
            # only its analytics event is missing, and operators see it counted.
            log.error("an email %s event could not be spooled: %s", row["kind"], error)
            sink.count_drop("spool_full", "email")


# --- pages --------------------------------------------------------------------------


def _language(default: str) -> str:
    """``?lang=``, then Accept-Language (by quality), then the site's language, then en."""
    requested = [request.args["lang"]] if request.args.get("lang") else []
    requested += [tag for tag, _ in request.accept_languages]
    return pick_language(current_app.extensions["email_page_texts"], requested, default)


def _render(template: str, status: int, language: str, **context):
    texts: dict[str, PageTexts] = current_app.extensions["email_page_texts"]
    body = render_template(
        template,
        language=language,
        t=texts[language],
        languages=[(code, page.name) for code, page in texts.items()],
        **context,
    )
    response = current_app.response_class(body, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    response.vary.add("Accept-Language")
    return response


@dataclass(frozen=True)
class _Shown:
    """What every page of a subscription shows, in the language the request gets."""

    language: str
    texts: PageTexts
    site_name: str
    address: str | None


def _shown(sub: Subscription) -> _Shown:
    # A site since removed from the sites file: its id, and English unless asked otherwise.
    site = current_app.extensions["sites"].get(sub.site)
    site_name, default = (site.name, site.default_language) if site else (sub.site, "en")
    language = _language(default)
    texts = current_app.extensions["email_page_texts"][language]
    return _Shown(language, texts, site_name, mask_address(sub.email))


def _preferences(sub: Subscription, notice: bool = False):
    shown = _shown(sub)
    with db.engine.connect() as conn:
        now = preferences.standing(conn, current_app.config["SECRET_KEYS"], sub)
    t = shown.texts
    in_force = []
    if now.left_all:
        in_force.append(t.state_all.format(site=shown.site_name))
    elif now.left_list:
        in_force.append(t.state_list)
    if now.tracking_off:
        in_force.append(t.state_tracking)
    return _render(
        "email/preferences.html",
        200,
        shown.language,
        site_name=shown.site_name,
        list_name=sub.list,
        address=shown.address,
        in_force=in_force,
        notice=t.nothing_changed if notice else None,
    )


def _done(sub: Subscription, choice: Choice):
    shown = _shown(sub)
    t = shown.texts
    done = {
        "list": t.done_list.format(list=sub.list),
        "all": t.done_all.format(site=shown.site_name),
        "tracking": t.done_tracking,
    }[choice]
    return _render(
        "email/done.html",
        200,
        shown.language,
        site_name=shown.site_name,
        address=shown.address,
        done=done,
    )


def _invalid(status: int):
    return _render("email/invalid.html", status, _language("en"), site_name=None)
