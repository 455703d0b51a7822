"""How the banner behaves as a guest on a page: where it sends requests, what it weighs,
whether it shifts the layout, on another origin, on a flaky network, in a single-page app,
with cookies and storage blocked, and through its JS API.
"""

import gzip

import pytest
from banner_page import Banner, all_ran, assert_gates_closed, is_config, is_decision, shop
from playwright.sync_api import Route, expect

BUDGET = 10 * 1024  # JS + CSS, gzipped, as transferred
# Layout shifts recorded from the first byte of the page on, with the elements that moved
# and whether an input had just happened (CLS does not count those).
RECORD_SHIFTS = """
window.__shifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    const moved = (entry.sources || []).map(s => s.node
      ? (s.node.id ? "#" + s.node.id : s.node.nodeName.toLowerCase()) : "?");
    window.__shifts.push({value: entry.value, moved, input: entry.hadRecentInput});
  }
}).observe({type: "layout-shift", buffered: true});
"""
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# Two frames after now, every shift so far has been reported to the observer.
SHIFTS = """() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(
  () => setTimeout(() => resolve(window.__shifts), 0))))"""


def layout_shift(page, counting_input: bool = False) -> tuple[float, list]:
    """The cumulative layout shift so far (CLS: without shifts just after an input)."""
    shifts = [s for s in page.evaluate(SHIFTS) if counting_input or not s["input"]]
    return sum(s["value"] for s in shifts), shifts


def test_every_request_the_page_makes_goes_to_the_consentry_origin(page, consentry):
    requested: list[str] = []
    page.context.on("request", lambda r: requested.append(r.url))
    banner = Banner(page)
    banner.visit(shop(consentry))
    with page.expect_response(lambda r: "/demo/embed" in r.url):
        banner.decide(banner.button("accept_all"))
    all_ran(page)
    with page.expect_response(is_config):
        page.reload()
    all_ran(page)

    assert requested
    foreign = [u for u in requested if not u.startswith(consentry.url + "/")]
    assert foreign == []


@pytest.mark.parametrize("where", ["demo shop", "customer page"])
def test_the_banner_shows_without_layout_shift(page, consentry, customer_url, where):
    """The banner arrives after the page has painted (its config held back until then, as
    on a slow network): nothing on the page may move, the banner's doing or the page's."""
    page.add_init_script(RECORD_SHIFTS)
    held: list[Route] = []
    page.route("**/api/v1/sites/*/config*", lambda route: held.append(route))
    page.goto(shop(consentry) if where == "demo shop" else customer_url())
    page.evaluate(PAINTED)
    for _ in range(100):  # each round trip delivers pending route events; no waiting
        if held:
            break
        page.evaluate("() => 0")
    assert len(held) == 1, "the banner asked for no config"
    banner = Banner(page)
    with page.expect_response(is_config):
        held[0].continue_()
    banner.shown()
    cls, shifts = layout_shift(page)
    assert cls == 0, shifts
    banner.open_prefs()
    cls, shifts = layout_shift(page)
    assert cls == 0, shifts

    # The instrument works: content pushed down by a late element is a shift it sees.
    page.evaluate(
        """() => { const late = document.createElement("div");
                   late.style.height = "200px";
                   document.body.prepend(late); }"""
    )
    assert layout_shift(page, counting_input=True)[0] > 0


def test_the_js_and_css_a_page_downloads_fit_the_budget(page, customer_url, consentry):
    """On the customer's page the only JS and CSS are the banner's: all of it is counted."""
    assets = []
    page.on(
        "response",
        lambda r: assets.append(r) if r.request.resource_type in ("script", "stylesheet") else None,
    )
    banner = Banner(page)
    banner.visit(customer_url())
    banner.open_prefs()

    assert assets, "the page downloaded no script"
    assert all(a.url.startswith(consentry.url + "/") for a in assets), [a.url for a in assets]
    encodings = {a.url: a.header_value("content-encoding") for a in assets}
    assert set(encodings.values()) == {"gzip"}, encodings
    transferred = sum(a.request.sizes()["responseBodySize"] for a in assets)
    assert transferred <= BUDGET, {a.url: a.request.sizes()["responseBodySize"] for a in assets}
    # The same bound on the content itself, gzipped here: no transfer trick counts.
    assert sum(len(gzip.compress(a.body(), 9)) for a in assets) <= BUDGET


def test_a_page_on_another_origin_works_the_same(page, customer_url, customer_port, consentry):
    origin = f"http://localhost:{customer_port}"
    banner = Banner(page)
    config = banner.open(customer_url())
    assert config.header_value("access-control-allow-origin") == origin
    banner.shown()
    with page.expect_response(is_decision) as answer:
        banner.button("accept_all").click()
    decision = answer.value.json()
    # Another site: the server cannot set the cookie, the script writes it.
    assert answer.value.header_value("set-cookie") is None
    page.wait_for_function("() => window.__runs.analytics === 1 && window.__runs.marketing === 1")
    expect(page.locator("iframe[data-category]")).to_have_attribute("src", "/frame.html?first")
    assert page.evaluate("() => window.__defaultBeforeTags") is True
    page.wait_for_function(
        "id => window.Consentry.get() && window.Consentry.get().consent_id === id",
        arg=decision["consent_id"],
    )
    assert banner.cookie()["consent_id"] == decision["consent_id"]
    assert consentry.consent(decision["consent_id"])["history"][0]["page_origin"] == origin

    with page.expect_response(is_config):
        page.reload()
    page.wait_for_function("() => window.__runs.analytics === 1 && window.__runs.marketing === 1")
    expect(banner.first_layer).to_be_hidden()
    assert banner.state()["consent_id"] == decision["consent_id"]


def test_the_config_failing_once_leaves_the_page_usable_and_the_gates_closed(page, customer_url):
    calls: list[str] = []

    def flaky(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.abort("failed")
        else:
            route.continue_()

    page.route("**/api/v1/sites/*/config*", flaky)
    with page.expect_event("requestfailed", lambda r: "/config" in r.url):
        page.goto(customer_url())
    page.locator("#own").click()
    expect(page.locator("#own-count")).to_have_text("1")
    page.wait_for_function("() => window.Consentry !== undefined")
    assert page.evaluate("() => window.Consentry.accepted('analytics')") is False
    assert_gates_closed(page, counter="__runs")

    banner = Banner(page)
    banner.visit(customer_url())
    assert_gates_closed(page, counter="__runs")


def test_an_unreachable_config_leaves_the_page_usable_and_the_gates_closed(page, customer_url):
    page.route("**/api/v1/sites/*/config*", lambda route: route.abort("failed"))
    with page.expect_event("requestfailed", lambda r: "/config" in r.url):
        page.goto(customer_url())
    page.locator("#own").click()
    expect(page.locator("#own-count")).to_have_text("1")
    page.wait_for_function("() => window.Consentry !== undefined")
    state = page.evaluate("() => [window.Consentry.get(), window.Consentry.accepted('analytics')]")
    assert state == [None, False]
    page.evaluate("() => window.spaNavigate('offline')")
    assert_gates_closed(page, counter="__runs")
    expect(Banner(page).first_layer).to_have_count(0)


def test_a_lost_decision_answer_is_retried_once_with_the_same_key(page, customer_url, consentry):
    """The decision reaches the server but its answer is lost: the retry must not record twice."""
    keys: list[str | None] = []

    def answer_lost(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server records it ...
            route.abort("connectionreset")  # ... and the page never hears back
        else:
            route.continue_()

    page.route("**/api/v1/consents", answer_lost)
    banner = Banner(page)
    banner.visit(customer_url())
    with page.expect_response(is_decision) as answer:
        banner.button("reject_all").click()
    assert answer.value.status == 201
    assert answer.value.header_value("idempotent-replayed") == "true"
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0]
    decision = answer.value.json()
    assert len(consentry.consent(decision["consent_id"])["history"]) == 1
    page.wait_for_function("() => window.Consentry.get() !== null")


def test_tags_a_single_page_app_adds_later_wait_for_consent(page, customer_url):
    banner = Banner(page)
    banner.visit(customer_url())
    page.evaluate("() => window.spaNavigate('one')")
    # Mutation observers run before evaluate() returns: had the banner let it run, it ran.
    assert_gates_closed(page, counter="__runs")

    banner.decide(banner.button("accept_all"))
    page.wait_for_function("() => window.__runs['spa-one'] === 1")
    expect(page.locator('#route iframe[data-src="/frame.html?one"]')).to_have_attribute(
        "src", "/frame.html?one"
    )
    page.evaluate("() => window.spaNavigate('two')")
    page.wait_for_function("() => window.__runs['spa-two'] === 1")
    expect(page.locator('#route iframe[data-src="/frame.html?two"]')).to_have_attribute(
        "src", "/frame.html?two"
    )
    assert page.evaluate("() => window.__runs") == {
        "analytics": 1,
        "marketing": 1,
        "spa-one": 1,
        "spa-two": 1,
    }


def test_with_cookies_and_storage_blocked_the_choice_holds_for_the_page(visitor, customer_url):
    visit = visitor(storage_blocked=True)
    page = visit.page()
    # Chromium's own switch for "cookies blocked": document.cookie reads "" and writes nothing.
    visit.context.new_cdp_session(page).send(
        "Emulation.setDocumentCookieDisabled", {"disabled": True}
    )
    banner = Banner(page)
    banner.open(customer_url())
    assert page.evaluate("() => navigator.cookieEnabled") is False
    banner.shown()
    decision = banner.decide(banner.button("accept_all"))

    expect(banner.first_layer).to_be_hidden()
    page.wait_for_function("() => window.__runs.analytics === 1 && window.__runs.marketing === 1")
    assert page.evaluate("() => document.cookie") == ""
    assert page.evaluate("() => window.Consentry.accepted('analytics')") is True
    page.evaluate("() => window.Consentry.show()")
    expect(banner.prefs).to_be_visible()
    expect(banner.switch("analytics")).to_be_checked()
    banner.prefs_button("close").click()
    assert banner.state()["consent_id"] == decision["consent_id"]
    expect(banner.first_layer).to_be_hidden()


def test_the_js_api_and_the_change_event(page, customer_url):
    banner = Banner(page)
    banner.visit(customer_url())
    assert banner.state() is None
    page.evaluate(
        """() => {
          window.__changes = [];
          window.Consentry.on("change", state => window.__changes.push(["on", state]));
          document.addEventListener("consentry:change",
            event => window.__changes.push(["event", event.detail]));
        }"""
    )
    decision = banner.decide(banner.button("reject_all"))

    page.wait_for_function("() => window.__changes.length === 2")
    changes = dict(page.evaluate("() => window.__changes"))
    expected = {"necessary": True, "analytics": False, "marketing": False, "preferences": False}
    for how in ("on", "event"):
        assert changes[how]["consent_id"] == decision["consent_id"]
        assert changes[how]["choices"] == expected
    assert changes["event"]["receipt"] == decision["receipt"]
    state = banner.state()
    assert set(state) >= {"consent_id", "choices", "lifetime", "policy_version", "timestamp"}
    assert page.evaluate("() => window.Consentry.accepted('necessary')") is True

    page.evaluate("() => window.Consentry.show()")
    expect(banner.prefs).to_be_visible()
    banner.prefs_button("close").click()
    page.evaluate("() => window.Consentry.reset()")
    banner.shown()
    assert banner.state() is None
    assert banner.cookie() is None
