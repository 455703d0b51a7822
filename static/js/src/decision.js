/**
 * Decisions: whether a stored one still holds, what holds before one is made, and the
 * body and cookie state of a new one. Pure: `now` is passed in, nothing reads the page.
 */

export const NECESSARY = 'necessary';
const DAY_MS = 864e5;

/** Every configured category set to `granted` (necessary always on). */
export function allChoices(config, granted) {
  const choices = {};
  for (const { id } of config.categories) choices[id] = id === NECESSARY || granted;
  return choices;
}

/** A choice for every configured category, from a partial one (missing means refused). */
export function completeChoices(config, picked) {
  const choices = {};
  for (const { id } of config.categories) choices[id] = id === NECESSARY || picked[id] === true;
  return choices;
}

function grantsAny(choices) {
  return Object.keys(choices).some((id) => id !== NECESSARY && choices[id] === true);
}

/** When a stored decision ends (ms since the epoch), or null for a session decision. */
export function expiresAt(state, lifetime) {
  if (state.lifetime === 'session') return null;
  const days = grantsAny(state.choices) ? lifetime.accept_days : lifetime.reject_days;
  return Date.parse(state.timestamp) + days * DAY_MS;
}

/**
 * Why the banner must ask again: 'none' (no decision for this site), 'policy' (the policy
 * version changed), 'category' (a category was added since), 'expired'; '' when the stored
 * decision holds.
 */
export function promptReason(state, config, now) {
  if (!state || state.site !== config.site) return 'none';
  if (state.policy_version !== config.policy_version) return 'policy';
  if (config.categories.some(({ id }) => typeof state.choices[id] !== 'boolean')) {
    return 'category';
  }
  const end = expiresAt(state, config.lifetime);
  // An unreadable timestamp gives NaN: treated as expired.
  if (end !== null && !(end > now)) return 'expired';
  return '';
}

/**
 * What holds while no valid decision does. Opt-in: nothing optional. Opt-out and notice:
 * everything optional, unless a signal is honoured; and a stored decision, even an outdated
 * one, is never overwritten by a region's default (a new category stays off).
 */
export function undecidedChoices(config, state, signalled) {
  const model = config.region.model;
  if (model === 'opt-in') return allChoices(config, false);
  if (state && state.site === config.site) return completeChoices(config, state.choices);
  return allChoices(config, !signalled);
}

/** How the preferences switches start: the stored choice, else what holds now. */
export function initialChoices(config, state, signalled) {
  if (state && state.site === config.site) return completeChoices(config, state.choices);
  return undecidedChoices(config, null, signalled);
}

/** The lifetime a decision asks for: with the remember checkbox, checked is persistent. */
export function lifetimeFor(rememberChoice, remembered) {
  return !rememberChoice || remembered ? 'persistent' : 'session';
}

/** The body of `POST /api/v1/consents` (the API's DecisionIn: unknown fields are refused). */
export function decisionBody(config, { choices, lifetime, action, consentId, page, signals }) {
  const body = {
    site: config.site,
    choices: completeChoices(config, choices),
    lifetime,
    policy_version: config.policy_version,
    language: config.language,
  };
  if (consentId) body.consent_id = consentId;
  if (action) body.action = action;
  if (page && page[0] === '/') body.page = page.slice(0, 512);
  if (signals) body.signals = { dnt: !!signals.dnt, gpc: !!signals.gpc };
  return body;
}

/** The stored state of a recorded decision (the API's DecisionOut). */
export function stateFromAnswer(answer, site) {
  return {
    consent_id: answer.consent_id,
    site,
    choices: answer.choices,
    lifetime: answer.lifetime,
    policy_version: answer.policy_version,
    timestamp: answer.created_at,
  };
}

/** Seconds until `expiresAt` (an ISO time or ms), or null for a session cookie. */
export function maxAgeSeconds(expires, now) {
  if (expires == null) return null;
  const end = typeof expires === 'number' ? expires : Date.parse(expires);
  return Math.max(0, Math.floor((end - now) / 1000));
}

/** What `Consentry.get()` answers: the decision without the cookie's site. */
export function publicState(state) {
  if (!state) return null;
  const { consent_id, choices, lifetime, policy_version, timestamp } = state;
  return { consent_id, choices: { ...choices }, lifetime, policy_version, timestamp };
}
