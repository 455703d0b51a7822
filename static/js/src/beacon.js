/**
 * The built-in page-view beacon (SPEC 2.4, 3.5): `GET {api}/b/<site>.gif?cid=…&p=…`, sent at
 * most once per page, only with a recorded decision that grants analytics and only when no
 * DNT or GPC signal is present (the page's or the headers' as the server saw them). The
 * server checks the consent id again when the hit arrives; the page sends only the path.
 */

/** Whether this page view may be counted. */
export function mayCount(state, accepted, page, server) {
  const signal = page.dnt || page.gpc || (server && (server.dnt || server.gpc));
  return !!(state && state.consent_id && accepted('analytics') && !signal);
}

/** The beacon's address. */
export function beaconUrl(base, site, consentId, path) {
  const query = `cid=${encodeURIComponent(consentId)}&p=${encodeURIComponent(path)}`;
  return `${base}/b/${encodeURIComponent(site)}.gif?${query}`;
}
