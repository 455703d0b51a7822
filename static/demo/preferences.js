/* Stands in for a preferences feature: it remembers the shop's language in the lang
   cookie the demo site declares for "preferences". Runs only once that is granted. */
(function () {
  var runs = (window.__demoRuns = window.__demoRuns || {});
  var count = (runs.preferences = (runs.preferences || 0) + 1);
  var lang = document.documentElement.lang || "en";
  document.cookie = "lang=" + lang + "; Path=/; SameSite=Lax; Max-Age=" + 365 * 24 * 3600;
  document.querySelectorAll('[data-demo-status="preferences"]').forEach(function (badge) {
    badge.dataset.state = "ran";
    badge.textContent = count > 1 ? "ran " + count + "\u00d7" : "ran";
  });
  document.dispatchEvent(new CustomEvent("demo:ran", { detail: { tag: "preferences" } }));
})();
