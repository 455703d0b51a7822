/* An inline tag as sites paste them (here: the analytics config call). Consentry runs it
   once "analytics" is granted; the page's policy allows it by its SHA-256 hash. */
(function () {
  var runs = (window.__demoRuns = window.__demoRuns || {});
  var count = (runs.inline = (runs.inline || 0) + 1);
  if (typeof window.gtag === "function") window.gtag("config", "G-DEMO");
  document.querySelectorAll('[data-demo-status="inline"]').forEach(function (badge) {
    badge.dataset.state = "ran";
    badge.textContent = count > 1 ? "ran " + count + "\u00d7" : "ran";
  });
  document.dispatchEvent(new CustomEvent("demo:ran", { detail: { tag: "inline" } }));
})();
