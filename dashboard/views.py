"""The dashboard pages: login, logout, campaigns, consent. Login required for the rest."""

import logging
from datetime import UTC, date, datetime
from typing import TypeVar

from clickhouse_connect.driver.exceptions import OperationalError
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from pydantic import ValidationError

from analytics import reports
from analytics.schemas import ConsentRatesParams, OpenRatesParams, ReportParams
from core.errors import Unavailable
from core.validation import describe
from dashboard import charts, panels, users
from dashboard.forms import LoginForm, LogoutForm
from dashboard.sessions import PREFIX

bp = Blueprint("dashboard", __name__, url_prefix=PREFIX)
log = logging.getLogger(__name__)

P = TypeVar("P", bound=ReportParams)
LOGIN_FAILED = "Wrong user name or password."

# Checked on this blueprint's POSTs only (see dashboard.init_app): the JSON API and the
# RFC 8058 unsubscribe POST are not forms and carry no session.
csrf = CSRFProtect()


@bp.before_request
def check_csrf() -> None:
    """Refuse a POST without this session's CSRF token (400)."""
    if request.method == "POST":
        csrf.protect()


@bp.after_request
def keep_private(response: Response) -> Response:
    """Nothing behind the login is cached, by the browser or on the way."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str | None:
    # Only a dashboard path of this server: never an open redirect (//host, https://host).
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; on a right name and password, start a session."""
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = users.authenticate(form.name.data or "", form.password.data or "")
        if user is not None:
            session.clear()  # a session from before the login is not carried into it
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for(".campaigns"))
        error = LOGIN_FAILED
    elif form.is_submitted():
        error = LOGIN_FAILED
    return render_template("dashboard/login.html", form=form, error=error)


@bp.post("/logout")
def logout():
    """End the session (a POST with the form's CSRF token)."""
    logout_user()
    session.clear()
    return redirect(url_for(".login"))


def _params(model: type[P]) -> tuple[P, str | None]:
    args = {k: v for k, v in request.args.items() if v != ""}
    try:
        return model.model_validate(args), None
    except ValidationError as e:
        return model.model_validate({}), describe(e)


def _page(
    template: str, params: ConsentRatesParams | OpenRatesParams, problem: str | None, build, subject
) -> str:
    """Build a panel for the asked range (default: the last 30 days) and render it."""
    query = reports.report_query(params, datetime.now(UTC).date())
    try:
        panel = build(current_app.extensions["events"].clickhouse, query, subject)
    except OperationalError as e:
        # ClickHouse down or unreachable: say so on the page, not as a 500 (details logged).
        log.warning("dashboard: ClickHouse did not answer: %s", e)
        raise Unavailable(
            "The event store (ClickHouse) is not answering, so there are no numbers to show "
            "right now. Events are kept in the spool meanwhile; see /healthz."
        ) from e
    return render_template(template, panel=panel, problem=problem, logout=LogoutForm())


@bp.get("/")
@login_required
def campaigns():
    """Show every campaign's rates, and the open curve of one."""
    params, problem = _params(OpenRatesParams)
    return _page("dashboard/campaigns.html", params, problem, panels.email_panel, params.campaign)


@bp.get("/consent")
@login_required
def consent():
    """Show every site's consent rates, and one site's days and categories."""
    params, problem = _params(ConsentRatesParams)
    return _page("dashboard/consent.html", params, problem, panels.consent_panel, params.site)


@bp.app_template_filter("pct")
def pct(share: float | None) -> str:
    """A share as a percentage with one decimal; no data as an en dash."""
    return charts.percent(share)


@bp.app_template_filter("num")
def num(count: int) -> str:
    """A count with thousands separated: 12,345."""
    return f"{count:,}"


@bp.app_template_filter("day")
def day(value: date | None) -> str:
    """A UTC day as 2 Nov 2026."""
    return "" if value is None else f"{value:%-d %b %Y}"
