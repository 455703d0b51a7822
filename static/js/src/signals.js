/** Do Not Track and Global Privacy Control as the page sees them (the server reads headers). */

/** `{dnt, gpc}` from `navigator`: exactly `doNotTrack === '1'` and `globalPrivacyControl === true`. */
export function pageSignals(nav) {
  return { dnt: !!nav && nav.doNotTrack === '1', gpc: !!nav && nav.globalPrivacyControl === true };
}

/**
 * Whether this browser must not be tracked: the site's policy over the page's signals and
 * the server's view of the headers (`config.signals`). `strict` honours DNT too.
 */
export function honoured(config, page) {
  const server = config.signals || {};
  const gpc = !!(server.gpc || page.gpc);
  const dnt = !!(server.dnt || page.dnt);
  return !!server.honoured || gpc || (server.policy !== 'gpc' && dnt);
}

/** The action that records an automatic refusal: GPC first (what the law names), else DNT. */
export function signalAction(config, page) {
  const server = config.signals || {};
  return server.gpc || page.gpc ? 'gpc' : 'dnt';
}
