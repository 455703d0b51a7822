"""Browser test fixtures: one Chromium, one live Consentry, one customer web server per
session; a fresh browser context (cookies, storage, headers) per test.

Chromium is Debian's /usr/bin/chromium, driven by Playwright's Python client (no
``playwright install``). Its absence fails the run: the banner is only proven in a browser.
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser_support import Consentry, Served, SiteSettings, customer_site, write_sites_file
from flask_migrate import upgrade as sql_upgrade
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from consentry import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A step that takes longer than this is a failure, not something to wait out.
STEP_TIMEOUT_MS = 10_000
# The header the app trusts for the visitor's region (the last of CONSENTRY_REGION_HEADERS'
# defaults: the one a plain reverse proxy would set).
REGION_HEADER = "X-Country-Code"
SIGNAL_SCRIPTS = {
    "gpc": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', "
    "{get: () => true, configurable: true});",
    "dnt": "Object.defineProperty(Navigator.prototype, 'doNotTrack', "
    "{get: () => '1', configurable: true});",
}
SIGNAL_HEADERS = {"gpc": {"Sec-GPC": "1"}, "dnt": {"DNT": "1"}}
# What Chromium does when a visitor blocks site data: reading either storage throws.
BLOCKED_STORAGE = """
for (const name of ["localStorage", "sessionStorage"]) {
  Object.defineProperty(window, name, {
    configurable: true,
    get() { throw new DOMException("Access is denied for this document.", "SecurityError"); },
  });
}
"""


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the banner tests need Debian's Chromium "
            "(apt-get install chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def sites_file(tmp_path_factory) -> Path:
    return write_sites_file(tmp_path_factory.mktemp("sites"))


@pytest.fixture(scope="session")
def consentry(tmp_path_factory, chdb_root, sites_file) -> Iterator[Consentry]:
    """The real app on a temp SQLite file and its own database in the session's chdb engine."""
    data = tmp_path_factory.mktemp("consentry")
    app = create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(data),
            "DATABASE_URL": f"sqlite:///{data / 'consentry.db'}",
            "CLICKHOUSE_URL": f"chdb://{chdb_root}?database=browser_{uuid.uuid4().hex[:8]}",
            "SECRET_KEYS": ["browser-test-signing-key-0123456789"],
            "SHIP_INTERVAL": 0.05,
            "SITES_FILE": str(sites_file),
        }
    )
    with app.app_context():
        sql_upgrade()
        app.extensions["events"].upgrade_schema()
    served = Served(app)
    # Pages link the script from PUBLIC_URL: the port is known only once the server is bound.
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{served.port}"
    yield Consentry(app, served)
    served.stop()
    app.extensions["events"].stop(timeout=0.5)


@pytest.fixture(scope="session")
def customer_port(consentry) -> Iterator[int]:
    """A customer's own web server, on another port (another origin, another site)."""
    served = Served(customer_site(consentry.url))
    yield served.port
    served.stop()


@pytest.fixture
def customer_url(customer_port) -> Callable[..., str]:
    """URL of the customer's page: ``customer_url(site="lab", lang="de", host="localhost")``."""

    def url(site: str = "demo", lang: str = "en", host: str = "localhost") -> str:
        return f"http://{host}:{customer_port}/customer.html?site={site}&lang={lang}"

    return url


@pytest.fixture
def sites(consentry, sites_file) -> Iterator[SiteSettings]:
    """Change the served sites for this test only."""
    settings = SiteSettings(consentry.app, sites_file)
    yield settings
    settings.restore()


class Visitor:
    """One visitor's browser context, and the page errors it saw."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.errors: list[str] = []
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.on("page", self._watch)

    def _watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def page(self) -> Page:
        return self.context.new_page()


@pytest.fixture
def visitor(browser) -> Iterator[Callable[..., Visitor]]:
    """Open a browser context: ``visitor(region="US-CA", signal="gpc", locale="de-DE", ...)``.

    Every page error (an uncaught exception) in any of them fails the test.
    """
    made: list[Visitor] = []

    def make(
        *,
        region: str | None = None,
        signal: str | None = None,
        locale: str = "en-US",
        viewport: dict | None = None,
        storage_blocked: bool = False,
    ) -> Visitor:
        headers = dict(SIGNAL_HEADERS[signal]) if signal else {}
        if region:
            headers[REGION_HEADER] = region
        context = browser.new_context(
            locale=locale,
            viewport=viewport or {"width": 1280, "height": 800},
            extra_http_headers=headers,
        )
        if signal:
            context.add_init_script(SIGNAL_SCRIPTS[signal])
        if storage_blocked:
            context.add_init_script(BLOCKED_STORAGE)
        made.append(Visitor(context))
        return made[-1]

    yield make
    errors = [e for v in made for e in v.errors]
    for v in made:
        v.context.close()
    assert not errors, f"page errors: {errors}"


@pytest.fixture
def page(visitor) -> Page:
    """A page in a fresh context: no region header, no signal, English, desktop size."""
    return visitor().page()
