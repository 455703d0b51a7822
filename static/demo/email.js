/* The demo's Email tab. Mints the shop's newsletter for the sample recipient (through the
   demo's own same-origin routes: no API key in the browser), shows it as a mail app would
   (a sandboxed frame: no scripts, links open in a new tab, images off until "Load images"),
   acts as the recipient (open, click, one-click unsubscribe) and polls the recipient's
   events as ClickHouse receives them. */
(function () {
  "use strict";

  var body = document.body;
  var routes = {
    mint: body.getAttribute("data-mint"),
    reset: body.getAttribute("data-reset"),
    events: body.getAttribute("data-events"),
  };
  var POLL_MS = 1500;
  var WATCH_KEY = "consentry-demo-email-watch";
  var byId = function (id) { return document.getElementById(id); };
  var minted = null;
  var firstDrops = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function status(text) { byId("email-status").textContent = text; }

  /* The aggregate pixels this page minted: only it may follow them (kept for this tab). */
  function watched() {
    try { return JSON.parse(sessionStorage.getItem(WATCH_KEY)) || []; } catch (e) { return []; }
  }
  function watch(token) {
    var list = watched().concat([token]).slice(-20);
    try { sessionStorage.setItem(WATCH_KEY, JSON.stringify(list)); } catch (e) { /* private mode */ }
  }

  function post(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) throw new Error((json.error && json.error.message) || response.status);
        return json;
      });
    });
  }

  /* The email as a mail app shows it: links open in a new tab; images off until loaded. */
  function frameDocument(html, images) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var base = doc.createElement("base");
    base.setAttribute("target", "_blank");
    doc.head.insertBefore(base, doc.head.firstChild);
    if (!images) {
      // An extra policy on top of the page's: no image but data: URLs, so no pixel.
      var policy = doc.createElement("meta");
      policy.setAttribute("http-equiv", "Content-Security-Policy");
      policy.setAttribute("content", "img-src data:");
      doc.head.insertBefore(policy, doc.head.firstChild);
    }
    return "<!DOCTYPE html>\n" + doc.documentElement.outerHTML;
  }

  function showImagesNote(state, text) {
    var note = byId("email-images");
    note.setAttribute("data-state", state);
    note.textContent = text;
  }

  function showEmail(images) {
    byId("email-frame").srcdoc = frameDocument(minted.html, images);
    if (!minted.pixel_url) {
      showImagesNote("none", "This email has no pixel (tracking mode \u201cnone\u201d): loading its images reports nothing.");
    } else if (images) {
      showImagesNote("loaded", "Images loaded: the pixel was fetched from this server. Whether that is logged " +
        "as an open is decided there, at this moment: not after an unsubscribe or an opt-out (see the events).");
    } else {
      showImagesNote("off", "Images are off, as in most mail apps until you load them: nothing reported yet. " +
        "(Loaded within 2 s of the send, the pixel looks like a security gateway's scan, and is classified so.)");
    }
  }

  /* The answer as the render API gives it, in reading order; the HTML is on the left. */
  var ANSWER_KEYS = ["message_id", "tracking", "suppressed", "pixel_url", "unsubscribe_url", "headers"];
  function showAnswer(answer) {
    var shown = {};
    ANSWER_KEYS.forEach(function (key) { shown[key] = answer[key]; });
    shown.html = "\u2026 " + answer.html.length + " characters, shown on the left";
    byId("email-answer").textContent = JSON.stringify(shown, null, 2);
    Array.prototype.forEach.call(document.querySelectorAll("[data-header]"), function (code) {
      code.textContent = answer.headers[code.getAttribute("data-header")];
    });
  }

  function showLinks(answer) {
    var list = byId("email-links");
    list.textContent = "";
    if (!answer.links.length) {
      list.appendChild(el("li", "muted", "No tracked links: in mode \u201cnone\u201d the links are left as written."));
    }
    answer.links.forEach(function (link) {
      var item = el("li");
      var a = el("a", "button small ghost", "Click \u201c" + link.text + "\u201d \u2197");
      a.href = link.url;
      a.target = "_blank";
      a.rel = "noopener";
      item.appendChild(a);
      list.appendChild(item);
    });
  }

  function mint() {
    status("Minting\u2026");
    post(routes.mint, {}).then(function (answer) {
      minted = answer;
      watch(answer.watch);
      byId("email-unsubscribe-result").textContent = "";
      showAnswer(answer);
      showLinks(answer);
      showEmail(false);
      byId("email-open").disabled = false;
      byId("email-unsubscribe").disabled = false;
      var preferences = byId("email-preferences");
      preferences.href = answer.unsubscribe_url;
      preferences.removeAttribute("aria-disabled");
      status(answer.suppressed
        ? "Minted: suppressed, Ada unsubscribed. A sender must not send this one."
        : "Minted in " + answer.tracking + " mode.");
      poll();
    }).catch(function (error) { status("Minting failed: " + error.message); });
  }

  function open() {
    if (!minted) return;
    showEmail(true);
    status("Opened at " + new Date().toLocaleTimeString() + ".");
    setTimeout(poll, 600);
  }

  /* RFC 8058: what a mailbox provider posts, with no cookie, and no redirect followed. */
  function unsubscribe() {
    if (!minted) return;
    var url = minted.unsubscribe_url;
    var sameOrigin = url.indexOf(location.origin + "/") === 0;
    var result = byId("email-unsubscribe-result");
    fetch(url, {
      method: "POST",
      credentials: "omit",
      redirect: "manual",
      mode: sameOrigin ? "same-origin" : "no-cors",
      body: new URLSearchParams({ "List-Unsubscribe": "One-Click" }),
    }).then(function (response) {
      result.textContent = "POST List-Unsubscribe=One-Click \u2192 " +
        (response.type === "opaque" ? "sent" : response.status + " " + (response.statusText || "OK")) +
        ". Load images again: nothing is logged. Mint again: suppressed, no pixel.";
      poll();
    }).catch(function (error) { result.textContent = "The one-click POST failed: " + error.message; });
  }

  function reset() {
    var chosen = document.querySelector("input[name=consent]:checked");
    post(routes.reset, { consent: chosen ? chosen.value : "granted" }).then(function (standing) {
      showStanding(standing);
      status("Ada is reset: subscribed, tracking consent " + standing.consent + ". Mint again to see the new mode.");
      poll();
    }).catch(function (error) { status("Reset failed: " + error.message); });
  }

  function showStanding(standing) {
    var list = byId("email-standing");
    list.textContent = "";
    var consent = el("li", "chip chip-consent-" + standing.consent, "tracking consent: " + standing.consent);
    list.appendChild(consent);
    if (standing.unsubscribed.length) {
      standing.unsubscribed.forEach(function (name) {
        list.appendChild(el("li", "chip chip-marketing", "unsubscribed: " + (name === "*" ? "all lists" : name)));
      });
    } else {
      list.appendChild(el("li", "chip chip-preferences", "subscribed"));
    }
    if (standing.tracking_optout) list.appendChild(el("li", "chip chip-marketing", "tracking opted out"));
  }

  function time(iso) {
    return iso.slice(11, 19);
  }

  function showEvents(events) {
    var list = byId("email-events");
    list.textContent = "";
    if (!events.length) list.appendChild(el("li", "muted", "No events yet."));
    events.forEach(function (event) {
      var item = el("li", "event");
      item.setAttribute("data-kind", event.kind);
      item.appendChild(el("time", "event-time", time(event.ts)));
      item.appendChild(el("span", "event-kind kind-" + event.kind, event.kind));
      if (event.agent_class) {
        item.appendChild(el("span", "event-class class-" + event.agent_class, event.agent_class));
      }
      var detail = [];
      if (event.reasons.length) detail.push(event.reasons.join(", "));
      if (event.url) detail.push(event.url.replace(/^https?:\/\/[^/]+/, ""));
      if (event.method) detail.push("method " + event.method);
      if (event.kind === "unsubscribe" && event.list) detail.push("list " + (event.list === "*" ? "all" : event.list));
      detail.push(event.tracking ? event.tracking + (event.names_recipient ? "" : ", no recipient") : "");
      item.appendChild(el("span", "event-detail", detail.filter(Boolean).join(" \u00b7 ")));
      list.appendChild(item);
    });
  }

  function showDrops(dropped) {
    if (firstDrops === null) firstDrops = dropped;
    var parts = Object.keys(dropped).sort().map(function (reason) {
      var since = dropped[reason] - (firstDrops[reason] || 0);
      return reason + " " + dropped[reason] + (since ? " (+" + since + " since this page loaded)" : "");
    });
    byId("email-dropped").textContent = "Dropped hits (anonymous counters, whole server): " +
      (parts.length ? parts.join(", ") : "none yet") + ".";
  }

  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    var query = watched().map(function (token) { return "w=" + encodeURIComponent(token); }).join("&");
    var live = byId("email-live");
    fetch(routes.events + (query ? "?" + query : ""), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (answer) {
        showStanding(answer.recipient);
        showEvents(answer.events);
        showDrops(answer.dropped);
        live.setAttribute("data-state", "ok");
      })
      .catch(function () { live.setAttribute("data-state", "error"); })
      .then(function () { polling = false; });
  }

  byId("email-mint").addEventListener("click", mint);
  byId("email-open").addEventListener("click", open);
  byId("email-unsubscribe").addEventListener("click", unsubscribe);
  byId("email-reset").addEventListener("click", reset);
  poll();
  setInterval(function () { if (!document.hidden) poll(); }, POLL_MS);
})();
