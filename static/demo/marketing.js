/* Stands in for an advertising pixel (Meta): it sets _fbp, the cookie the demo site
   declares for "marketing". Consentry runs it only once that category is granted. */
(function () {
  var runs = (window.__demoRuns = window.__demoRuns || {});
  var count = (runs.marketing = (runs.marketing || 0) + 1);
  var id = "fb.1." + Date.now() + "." + Math.floor(Math.random() * 1e10);
  document.cookie = "_fbp=" + id + "; Path=/; SameSite=Lax; Max-Age=" + 90 * 24 * 3600;
  document.querySelectorAll('[data-demo-status="marketing"]').forEach(function (badge) {
    badge.dataset.state = "ran";
    badge.textContent = count > 1 ? "ran " + count + "\u00d7" : "ran";
  });
  document.dispatchEvent(new CustomEvent("demo:ran", { detail: { tag: "marketing" } }));
})();
