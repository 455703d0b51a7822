/* The embedded video player: like a real one, it sets a cookie of its provider
   (ad_session, declared for "marketing"), then tells the shop it loaded. */
(function () {
  document.cookie = "ad_session=" + Math.floor(Math.random() * 1e10) + "; Path=/; SameSite=Lax";
  if (window.parent !== window) {
    window.parent.postMessage({ demo: "embed-loaded" }, window.location.origin);
  }
})();
