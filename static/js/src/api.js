/**
 * The consent API, seen from the page: the site config, impressions and decisions. Only
 * the API origin is ever contacted. A failed request (network error or 5xx) is sent once
 * more; a decision is retried with the same Idempotency-Key, so the server records it once.
 */

/** A random UUID: crypto.randomUUID where the page is a secure context, else built by hand. */
export function uuid(cryptoImpl) {
  if (cryptoImpl && typeof cryptoImpl.randomUUID === 'function') return cryptoImpl.randomUUID();
  const bytes = new Uint8Array(16);
  if (cryptoImpl && cryptoImpl.getRandomValues) cryptoImpl.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Send a request, and once more after a network error or a 5xx; the last outcome stands. */
export async function withRetry(send, attempts = 2) {
  for (let i = 1; ; i++) {
    try {
      const response = await send();
      if (response.status < 500 || i >= attempts) return response;
    } catch (error) {
      if (i >= attempts) throw error;
    }
  }
}

/** The API client for one origin. `fetchImpl` and `cryptoImpl` are the page's. */
export function apiClient(base, fetchImpl, cryptoImpl) {
  const post = (path, body, headers) =>
    fetchImpl(base + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  return {
    /** The site config for this visitor (revalidated by the browser's cache with its ETag). */
    async config(site, lang) {
      const query = lang ? `?lang=${encodeURIComponent(lang)}` : '';
      const path = `/api/v1/sites/${encodeURIComponent(site)}/config${query}`;
      const response = await withRetry(() => fetchImpl(base + path));
      if (!response.ok) throw new Error(`config: HTTP ${response.status}`);
      return response.json();
    },
    /** Count a banner impression; a lost one is only a lost count. */
    impression(site, body) {
      return post(`/api/v1/sites/${encodeURIComponent(site)}/impressions`, body).catch(() => null);
    },
    /** Record a decision; answers the Response (201 when recorded). */
    decide(body) {
      const key = uuid(cryptoImpl);
      return withRetry(() => post('/api/v1/consents', body, { 'Idempotency-Key': key }));
    },
  };
}
