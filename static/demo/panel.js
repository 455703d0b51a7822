/* The demo shop's consent inspector, a necessary script (never gated). It shows what the
   banner decided and the proof of it: window.Consentry.get(), the receipt of the last
   decision (from the consentry:change event), the server's records of that consent id,
   the cookies now in this browser, and whether the gated video frame loaded. */
(function () {
  "use strict";

  var byId = function (id) { return document.getElementById(id); };
  var runs = (window.__demoRuns = window.__demoRuns || {});
  var inventory = parse(document.body.getAttribute("data-inventory"), []);
  var lastReceipt = null;

  function parse(text, fallback) {
    try { return JSON.parse(text); } catch (e) { return fallback; }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* The declared category of a cookie name; "*" at the end of a declared name is a prefix. */
  function categoryOf(name) {
    for (var i = 0; i < inventory.length; i++) {
      var declared = inventory[i][0];
      var star = declared.charAt(declared.length - 1) === "*";
      if (star ? name.indexOf(declared.slice(0, -1)) === 0 : name === declared) {
        return inventory[i][1];
      }
    }
    return "undeclared";
  }

  function showCookies() {
    var list = byId("demo-cookies");
    if (!list) return;
    list.textContent = "";
    var names = document.cookie ? document.cookie.split("; ").map(function (pair) {
      return pair.split("=")[0];
    }) : [];
    if (!names.length) list.appendChild(el("li", "chip chip-none", "none"));
    names.sort().forEach(function (name) {
      var category = categoryOf(name);
      var chip = el("li", "chip chip-" + category, name);
      chip.title = category;
      list.appendChild(chip);
    });
  }

  function showBanner(state, text) {
    var badge = byId("demo-banner-status");
    if (!badge) return;
    badge.setAttribute("data-state", state);
    badge.textContent = text;
  }

  function showDecision(decision) {
    byId("demo-decision").textContent = decision
      ? JSON.stringify(decision, null, 2)
      : "null \u2014 no decision yet";
    if (decision && decision.consent_id) loadRecords(decision.consent_id);
    showCookies();
  }

  function showReceipt(receipt) {
    lastReceipt = receipt || null;
    byId("demo-receipt").textContent = receipt || "No decision made on this page view yet.";
    byId("demo-verify").disabled = !receipt;
    byId("demo-verified").textContent = "";
  }

  /* The server's proof: every record of this consent id, newest first. */
  function loadRecords(consentId) {
    var target = byId("demo-records");
    fetch("/api/v1/consents/" + encodeURIComponent(consentId), {
      headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        target.textContent = "";
        if (!state) {
          target.appendChild(el("li", "muted", "The server has no record of this id."));
          return;
        }
        state.history.slice().reverse().slice(0, 5).forEach(function (record) {
          var item = el("li");
          item.appendChild(el("strong", null, "#" + record.seq + " " + record.action));
          var where = record.region_model + " \u00b7 " + (record.region || "region unknown");
          item.appendChild(el("span", "muted", " " + record.created_at.replace("T", " ").slice(0, 19)
            + " UTC \u00b7 " + where));
          item.appendChild(el("code", "hash", record.hash.slice(0, 16) + "\u2026"));
          target.appendChild(item);
        });
      })
      .catch(function () {
        target.textContent = "";
        target.appendChild(el("li", "muted", "Could not reach the consent API."));
      });
  }

  function verifyReceipt() {
    var out = byId("demo-verified");
    if (!lastReceipt) return;
    out.textContent = "Checking\u2026";
    fetch("/api/v1/receipts/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ receipt: lastReceipt }),
    })
      .then(function (response) { return response.json(); })
      .then(function (check) {
        out.setAttribute("data-state", check.valid && check.matches_record ? "ok" : "bad");
        out.textContent = check.valid
          ? (check.matches_record ? "\u2713 Signed by this server and matches the stored record"
            : "\u2717 Signed, but differs from the record: " + check.mismatches.join(", "))
          : "\u2717 Not signed by this server";
      })
      .catch(function () { out.textContent = "Could not reach the consent API."; });
  }

  function onChange(event) {
    var detail = event.detail || {};
    showReceipt(detail.receipt);
    showDecision(window.Consentry ? window.Consentry.get() : detail);
  }

  function onFrameMessage(event) {
    if (event.origin !== window.location.origin || !event.data) return;
    if (event.data.demo !== "embed-loaded") return;
    var count = (runs.embed = (runs.embed || 0) + 1);
    document.querySelectorAll('[data-demo-status="embed"]').forEach(function (badge) {
      badge.setAttribute("data-state", "ran");
      badge.textContent = count > 1 ? "loaded " + count + "\u00d7" : "loaded";
    });
    showCookies();
  }

  /* The page-view beacon is fired by consent.js itself; show when it went out. */
  function watchBeacon() {
    var badge = document.querySelector('[data-demo-status="beacon"]');
    if (!badge || !window.PerformanceObserver) return;
    var path = badge.getAttribute("data-path");
    new PerformanceObserver(function (entries) {
      entries.getEntries().forEach(function (entry) {
        if (entry.name.indexOf(path) !== -1) {
          badge.setAttribute("data-state", "ran");
          badge.textContent = "sent";
        }
      });
    }).observe({ type: "resource", buffered: true });
  }

  function connect() {
    if (!window.Consentry) return false;
    showBanner("ran", "loaded");
    showDecision(window.Consentry.get());
    return true;
  }

  document.addEventListener("consentry:change", onChange);
  // consent.js publishes window.Consentry once its config is applied: consentry:ready.
  document.addEventListener("consentry:ready", function () { connect(); });
  document.addEventListener("demo:ran", showCookies);
  window.addEventListener("message", onFrameMessage);
  byId("demo-verify").addEventListener("click", verifyReceipt);
  byId("demo-reset").addEventListener("click", function () {
    if (window.Consentry) window.Consentry.reset();
    showReceipt(null);
    showDecision(window.Consentry ? window.Consentry.get() : null);
  });
  document.querySelectorAll("[data-add-to-cart]").forEach(function (button) {
    button.addEventListener("click", function () {
      var count = byId("cart-count");
      count.textContent = String(Number(count.textContent) + 1);
      button.textContent = "Added \u2713";
    });
  });

  /* Whether consent.js itself failed to arrive (its resource entry says so). */
  function bundleFailed() {
    var script = document.querySelector('script[data-site][src$="consent.js"]');
    var entry = script && performance.getEntriesByName(script.src)[0];
    if (!entry) return true;
    var status = entry.responseStatus; // 0: no answer (this origin's own file is never opaque)
    return status !== undefined && (status === 0 || status >= 400);
  }

  showReceipt(null);
  watchBeacon();
  if (!connect()) {
    // window.Consentry appears once the site config is applied (consentry:ready).
    showBanner("waiting", "loading\u2026");
    showDecision(null);
    window.addEventListener("load", function () {
      if (!window.Consentry && bundleFailed()) {
        showBanner("blocked", "not loaded \u2014 GET /consent.js failed");
      }
    });
  }
})();
