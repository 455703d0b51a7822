/**
 * consent.js: the banner a site embeds with one tag,
 * `<script src="{base}/consent.js" data-site="demo" defer></script>`.
 *
 * At once: Consent Mode's `default` (everything denied) and gated elements held. Then the
 * site config: a stored decision that still holds is applied, else the banner asks (opt-in,
 * notice) or the region's default holds (opt-out, where an honoured GPC/DNT signal is
 * recorded as a refusal without a banner). Then `window.Consentry` is published and
 * `consentry:ready` dispatched, so a page that sees it knows the gates are decided.
 * Nothing here throws into the page: without the config, the gates stay closed.
 */

import { apiClient } from './api.js';
import { beaconUrl, mayCount } from './beacon.js';
import { defaults, ensureGtag, update } from './consentmode.js';
import {
  cookieDomains, cookieNames, declaredPresent, deletions, encodeDecision, newestDecision,
  serializeCookie,
} from './cookies.js';
import {
  NECESSARY, allChoices, completeChoices, decisionBody, expiresAt, initialChoices,
  lifetimeFor, maxAgeSeconds, promptReason, publicState, stateFromAnswer, undecidedChoices,
} from './decision.js';
import { focusables, h, trapFocus } from './dom.js';
import { sweep, watch } from './gating.js';
import { requestedLanguage, uiWords } from './i18n.js';
import { honoured, pageSignals, signalAction } from './signals.js';
import { injectStyle } from './style.js';
import { renderBanner, renderDock, renderPrefs } from './ui.js';

const COOKIE = 'consentry';
const SETTINGS_LINKS = '[data-consentry-settings],[data-cc="show-preferencesModal"]';

function start(win, doc, script) {
  const site = script.getAttribute('data-site');
  const base = (script.getAttribute('data-api') || new URL(script.src, doc.baseURI).origin)
    .replace(/\/+$/, '');
  const client = apiClient(base, win.fetch.bind(win), win.crypto);
  const gtag = ensureGtag(win);
  gtag('consent', 'default', defaults());
  const signals = pageSignals(win.navigator);
  const listeners = [];

  let config = null; // the site config, once loaded
  let stored = null; // the newest decision found (cookie, else memory), valid or not
  let current = null; // the decision that holds: what get() answers
  let choices = {}; // what is accepted now
  let memory = null; // the last decision, for when cookies cannot hold it
  let remembered = false; // the "Remember my choice" checkbox
  let busy = false;
  let root = null;
  let banner = null;
  let prefs = null; // {backdrop, opener, release}
  let dock = null;

  const accepted = (category) => category === NECESSARY || choices[category] === true;
  const secure = () => win.location.protocol === 'https:';

  function readCookies() {
    try {
      return doc.cookie;
    } catch (e) {
      return ''; // a sandboxed document: cookies are off
    }
  }
  function writeCookie(text) {
    try {
      doc.cookie = text;
    } catch (e) {
      // cookies are off: the decision lives in `memory` for the page's life
    }
  }
  function domains() {
    return cookieDomains(win.location.hostname, config && config.cookie.domain);
  }

  function readStored() {
    const found = newestDecision(readCookies(), COOKIE);
    return { state: found.state || memory, stale: found.stale };
  }

  /** Keep a decision: in memory always, in the cookie unless the server's Set-Cookie did. */
  function persist(state, expires) {
    memory = state;
    const present = newestDecision(readCookies(), COOKIE).state;
    if (present && present.consent_id === state.consent_id && present.timestamp === state.timestamp) {
      return;
    }
    const maxAge = state.lifetime === 'session' ? null : maxAgeSeconds(expires, Date.now());
    writeCookie(serializeCookie(COOKIE, encodeDecision(state),
      { domain: config.cookie.domain, secure: secure(), maxAge }));
  }

  function forget() {
    memory = null;
    for (const text of deletions(COOKIE, domains())) writeCookie(text);
  }

  /** Delete the declared cookies of every refused category (withdrawal removes `_ga`). */
  function deleteRefused() {
    const names = cookieNames(readCookies());
    for (const category of config.categories) {
      if (accepted(category.id)) continue;
      for (const name of declaredPresent(category.cookies, names)) {
        for (const text of deletions(name, domains())) writeCookie(text);
      }
    }
  }

  function apply(next, decided) {
    choices = completeChoices(config, next);
    if (decided) deleteRefused();
    gtag('consent', 'update', update(config.consent_mode, accepted));
    sweep(doc, accepted, doc);
  }

  let counted = false; // this page view went to the beacon

  function countPageView() {
    if (counted || !mayCount(current, accepted, signals, config.signals)) return;
    counted = true;
    new win.Image().src = beaconUrl(base, site, current.consent_id, win.location.pathname);
  }

  function emit(state, receipt) {
    const detail = { ...publicState(state), receipt };
    for (const fn of listeners) {
      try {
        fn(detail);
      } catch (e) {
        // a page's listener failing must not stop the others
      }
    }
    doc.dispatchEvent(new CustomEvent('consentry:change', { detail }));
  }

  // --- what is shown ------------------------------------------------------------------

  function view() {
    return { doc, config, texts: config.texts, words: uiWords(config.language) };
  }

  function container() {
    if (!root || !root.isConnected) {
      root = doc.getElementById('consentry') || h(doc, 'div', { id: 'consentry' });
      // First in the body: the first thing Tab reaches. Fixed layers: nothing moves.
      if (!root.isConnected) doc.body.prepend(root);
    }
    return root;
  }

  function showBanner() {
    if (banner) banner.remove();
    banner = renderBanner(view(), remembered, {
      decide: (action) => decide(action, allChoices(config, action === 'accept_all')),
      manage: openPrefs,
      remember: (checked) => (remembered = checked),
    });
    container().appendChild(banner);
    client.impression(site, {
      language: config.language, page: win.location.pathname.slice(0, 512), signals,
    });
  }

  function showDock() {
    if (dock) dock.remove();
    const model = config.region.model;
    const optional = config.categories.filter((c) => !c.necessary);
    dock = renderDock(view(), {
      settings: !!current && config.settings_button !== false,
      doNotSell: model === 'opt-out',
      gpcNotice: model === 'opt-out' && honoured(config, signals) &&
        signalAction(config, signals) === 'gpc' && !optional.some((c) => accepted(c.id)),
    }, openPrefs);
    if (dock) container().appendChild(dock);
  }

  function openPrefs(opener) {
    if (prefs || !config) return;
    const start = initialChoices(config, stored, honoured(config, signals));
    const built = renderPrefs(view(), start, remembered, {
      decide: (action, picked) => decide(action, picked || allChoices(config, action === 'accept_all')),
      close: closePrefs,
      remember: (checked) => (remembered = checked),
    });
    prefs = {
      backdrop: built.backdrop,
      opener: opener || doc.activeElement,
      release: trapFocus(doc, built.dialog, closePrefs),
    };
    // The first layer waits out of sight: under the dialog its edges would show around it.
    if (banner) banner.style.display = 'none';
    container().appendChild(built.backdrop);
    const first = focusables(built.dialog)[0];
    if (first) first.focus();
  }

  function closePrefs(refocus = true) {
    if (!prefs) return;
    const { backdrop, opener, release } = prefs;
    prefs = null;
    release();
    backdrop.remove();
    if (banner) banner.style.display = '';
    if (refocus && opener && opener.isConnected && opener.focus) opener.focus();
  }

  // --- decisions -----------------------------------------------------------------------

  async function decide(action, picked) {
    if (busy || !config) return;
    busy = true;
    const hadFocus = !!root && root.contains(doc.activeElement);
    const next = completeChoices(config, picked);
    const lifetime = action === 'gpc' || action === 'dnt'
      ? 'persistent' : lifetimeFor(config.remember_choice, remembered);
    closePrefs(false);
    if (banner) banner.remove();
    banner = null;
    const body = decisionBody(config, {
      choices: next, lifetime, action, consentId: stored && stored.consent_id,
      page: win.location.pathname, signals,
    });
    let answer = null;
    try {
      const response = await client.decide(body);
      if (response.status === 409) {
        busy = false;
        load(); // the policy changed while the page was open: ask again with the new one
        return;
      }
      if (response.ok) answer = await response.json();
    } catch (e) {
      // Not recorded (the API is unreachable): the choice holds for this page only.
    }
    busy = false;
    const state = answer ? stateFromAnswer(answer, config.site) : {
      consent_id: null, site: config.site, choices: next, lifetime,
      policy_version: config.policy_version, timestamp: new Date().toISOString(),
    };
    if (answer) persist(state, answer.expires_at);
    else memory = state;
    stored = current = state;
    apply(state.choices, true);
    countPageView();
    showDock();
    if (hadFocus) {
      const settings = dock && dock.querySelector('[data-cy=settings]');
      if (settings) settings.focus();
    }
    emit(state, answer ? answer.receipt : null);
  }

  function init(loaded) {
    config = loaded;
    injectStyle(doc);
    const found = readStored();
    stored = found.state;
    if (found.stale) {
      // Two `consentry` cookies (a cookie-domain change): the newest wins, alone.
      forget();
      if (stored) persist(stored, expiresAt(stored, config.lifetime));
    }
    remembered = !!stored && stored.lifetime === 'persistent';
    const signalled = honoured(config, signals);
    const optOut = config.region.model === 'opt-out';
    if (!promptReason(stored, config, Date.now())) {
      current = stored;
      apply(stored.choices, true);
      countPageView();
      showDock();
    } else {
      const kept = optOut && !!stored && stored.site === config.site;
      current = kept ? stored : null;
      apply(undecidedChoices(config, stored, signalled), kept);
      if (!optOut) showBanner();
      else if (!stored && signalled) decide(signalAction(config, signals), {});
      else showDock();
    }
  }

  const bodyReady = () => new Promise((resolve) => {
    if (doc.body) resolve();
    else doc.addEventListener('DOMContentLoaded', resolve);
  });

  let loading = null; // the config request under way: show() during it waits for it

  function load() {
    if (loading) return loading;
    const lang = requestedLanguage(script.getAttribute('data-lang'), doc.documentElement.lang);
    loading = client.config(site, lang)
      .then((loaded) => bodyReady().then(() => {
        if (banner) banner.remove();
        banner = null;
        closePrefs(false);
        init(loaded);
      }))
      .catch(() => {
        // No config after a retry, or one this script cannot read: no banner, gates closed.
      })
      .then(() => {
        loading = null;
        settle();
      });
    return loading;
  }

  function show(opener) {
    if (config) openPrefs(opener);
    else load().then(() => config && openPrefs(opener));
  }

  function reset() {
    forget();
    stored = current = null;
    remembered = false;
    if (!config) return;
    closePrefs(false);
    apply(undecidedChoices(config, null, honoured(config, signals)), false);
    showDock();
    if (config.region.model !== 'opt-out') showBanner();
  }

  /** Publish `window.Consentry` once the config is applied (or given up on): ready to use. */
  function settle() {
    win.Consentry = api;
    doc.dispatchEvent(new CustomEvent('consentry:ready', { detail: publicState(current) }));
  }
  const api = {
    get: () => publicState(current),
    accepted: (category) => accepted(String(category)),
    show: () => show(),
    reset,
    on(type, fn) {
      if (type === 'change' && typeof fn === 'function') listeners.push(fn);
    },
  };

  doc.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest(SETTINGS_LINKS);
    if (link) {
      event.preventDefault();
      show(link);
    }
  });
  sweep(doc, accepted, doc); // necessary-category elements run at once
  watch(doc, accepted);
  load();
}

(function boot() {
  const doc = document;
  const script = doc.currentScript || doc.querySelector('script[data-site][src*="consent"]');
  // A second copy of the script leaves the page to the first.
  if (!script || !script.getAttribute('data-site') || window.__consentry) return;
  window.__consentry = true;
  try {
    start(window, doc, script);
  } catch (e) {
    // An old browser or a broken page: without the banner, the gates stay closed.
  }
})();
