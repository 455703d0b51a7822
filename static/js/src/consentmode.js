/** Google Consent Mode v2: everything denied by default, then updated from the site's mapping. */

export const TYPES = [
  'ad_storage',
  'ad_user_data',
  'ad_personalization',
  'analytics_storage',
  'functionality_storage',
  'personalization_storage',
];

/** The `default` command's parameters: all denied but security storage, waiting 500 ms. */
export function defaults() {
  const params = {};
  for (const type of TYPES) params[type] = 'denied';
  params.security_storage = 'granted';
  params.wait_for_update = 500;
  return params;
}

/**
 * The `update` command's parameters: a type is granted when it is mapped to categories and
 * every one of them is accepted; an unmapped type stays denied.
 */
export function update(mapping, accepted) {
  const params = {};
  for (const type of TYPES) {
    const categories = (mapping && mapping[type]) || [];
    params[type] = categories.length && categories.every(accepted) ? 'granted' : 'denied';
  }
  return params;
}

/** The page's `gtag`, defined the way Google's snippet does when the page has none. */
export function ensureGtag(win) {
  win.dataLayer = win.dataLayer || [];
  if (typeof win.gtag !== 'function') {
    win.gtag = function gtag() {
      // Google's tags read the Arguments object itself, not an array copy.
      win.dataLayer.push(arguments); // eslint-disable-line prefer-rest-params
    };
  }
  return win.gtag;
}
