/**
 * The `consentry` cookie and the declared cookies of a category: pure string functions.
 *
 * document.cookie shows names and values only, never Domain or Path, so a cookie written
 * under another domain setting (a cookie-domain change) shows up as a second pair with the
 * same name: {@link newestDecision} picks the newest and the caller rewrites it alone.
 */

/** Every value of `name` in a `document.cookie` string, in the order the browser gives. */
export function cookieValues(cookieString, name) {
  const values = [];
  for (const pair of (cookieString || '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) values.push(pair.slice(at + 1).trim());
  }
  return values;
}

/** The names in a `document.cookie` string, without repeats. */
export function cookieNames(cookieString) {
  const names = new Set();
  for (const pair of (cookieString || '').split(';')) {
    const name = pair.split('=')[0].trim();
    if (name) names.add(name);
  }
  return [...names];
}

/** Read one stored decision; anything that is not one (garbage, another shape) is null. */
export function parseDecision(raw) {
  try {
    const state = JSON.parse(decodeURIComponent(raw));
    const ok =
      state &&
      typeof state.site === 'string' &&
      typeof state.policy_version === 'string' &&
      typeof state.timestamp === 'string' &&
      (state.lifetime === 'session' || state.lifetime === 'persistent') &&
      state.choices &&
      typeof state.choices === 'object';
    return ok ? state : null;
  } catch (e) {
    return null;
  }
}

/**
 * The newest decision among the `consentry` cookies (by timestamp), and whether any other
 * pair (older, or unreadable) is present and must be deleted.
 */
export function newestDecision(cookieString, name) {
  const values = cookieValues(cookieString, name);
  let newest = null;
  for (const state of values.map(parseDecision)) {
    if (state && (!newest || Date.parse(state.timestamp) > Date.parse(newest.timestamp))) {
      newest = state;
    }
  }
  return { state: newest, stale: values.length > 1 };
}

/** The cookie value of a decision. */
export function encodeDecision(state) {
  const { consent_id, site, choices, lifetime, policy_version, timestamp } = state;
  return encodeURIComponent(
    JSON.stringify({ consent_id, site, choices, lifetime, policy_version, timestamp }),
  );
}

/**
 * A `document.cookie` assignment. `maxAge` null or undefined makes a session cookie (no
 * Max-Age, no Expires); `secure` only on https pages, or the browser drops it.
 */
export function serializeCookie(name, value, { domain, secure, maxAge } = {}) {
  let text = `${name}=${value}; Path=/; SameSite=Lax`;
  if (domain) text += `; Domain=${domain}`;
  if (maxAge != null) text += `; Max-Age=${Math.max(0, Math.floor(maxAge))}`;
  if (secure) text += '; Secure';
  return text;
}

/**
 * The domains a cookie of this page may have been set on: host-only (''), the page's
 * parent domains down to two labels, and the configured cookie domain. An IP address
 * has no parents.
 */
export function cookieDomains(hostname, configured) {
  const domains = [''];
  if (!/^[\d.]+$|:/.test(hostname)) {
    const labels = hostname.split('.');
    for (let i = 0; i < labels.length - 1; i++) domains.push(labels.slice(i).join('.'));
  }
  if (configured && !domains.includes(configured.replace(/^\./, ''))) domains.push(configured);
  return domains;
}

/** Assignments that delete `name` on path / from every domain it may live on. */
export function deletions(name, domains) {
  return domains.map((domain) => serializeCookie(name, '', { domain, maxAge: 0 }));
}

/** Whether a cookie name is a declared one; `*` in a declared name matches anything. */
export function matchesDeclared(pattern, name) {
  const source = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${source}$`).test(name);
}

/** The present cookie names that a category's inventory declares. */
export function declaredPresent(inventory, names) {
  return names.filter((name) => inventory.some((cookie) => matchesDeclared(cookie.name, name)));
}
