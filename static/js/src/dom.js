/** Building elements: text always goes in as text nodes, never parsed as HTML. */

/**
 * `h(doc, 'button', {class: 'x', onclick: fn}, 'Label')`: attributes (null/false left out,
 * `on…` as listeners, `checked`/`disabled`/`hidden` as properties) and children (strings as text).
 */
export function h(doc, tag, attrs, ...children) {
  const el = doc.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'checked' || key === 'disabled' || key === 'hidden') el[key] = true;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) if (child != null && child !== false) el.append(child);
  return el;
}

/** Whether a link target is one a policy link may have: http(s), or relative to the page. */
export function safeHref(url, base) {
  try {
    return /^https?:$/.test(new URL(url, base).protocol) ? url : null;
  } catch (e) {
    return null;
  }
}

const FOCUSABLE = 'a[href],button:not([disabled]),input:not([disabled]),[tabindex]:not([tabindex="-1"])';

/** The visible elements of `box` that Tab reaches, in order. */
export function focusables(box) {
  return [...box.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/**
 * Keep Tab and Shift+Tab inside `box` and call `onEscape` on Escape, until the returned
 * function is called.
 */
export function trapFocus(doc, box, onEscape) {
  const onKey = (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onEscape();
      return;
    }
    if (event.key !== 'Tab') return;
    const items = focusables(box);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = doc.activeElement;
    const wrap = !box.contains(active) || active === (event.shiftKey ? first : last);
    if (wrap) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  };
  doc.addEventListener('keydown', onKey, true);
  return () => doc.removeEventListener('keydown', onKey, true);
}
