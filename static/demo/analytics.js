/* Stands in for an analytics tag (Google Analytics): it sets the cookies the demo site
   declares for "analytics", _ga and _ga_DEMO. Consentry runs it only once that category is
   granted, and deletes those cookies when it is withdrawn. */
(function () {
  var runs = (window.__demoRuns = window.__demoRuns || {});
  var count = (runs.analytics = (runs.analytics || 0) + 1);
  var twoYears = "; Path=/; SameSite=Lax; Max-Age=" + 2 * 365 * 24 * 3600;
  var now = Math.floor(Date.now() / 1000);
  document.cookie = "_ga=GA1.1." + Math.floor(Math.random() * 1e9) + "." + now + twoYears;
  document.cookie = "_ga_DEMO=GS1.1." + now + ".1.0." + now + ".0" + twoYears;
  document.querySelectorAll('[data-demo-status="analytics"]').forEach(function (badge) {
    badge.dataset.state = "ran";
    badge.textContent = count > 1 ? "ran " + count + "\u00d7" : "ran";
  });
  document.dispatchEvent(new CustomEvent("demo:ran", { detail: { tag: "analytics" } }));
})();
