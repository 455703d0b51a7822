/**
 * Gated scripts and iframes, in vanilla-cookieconsent's syntax:
 * `<script type="text/plain" data-category="analytics" src=…>` and
 * `<iframe data-category="marketing" data-src=…>`. Each runs (loads) once, when its
 * category is accepted, whenever it was added to the page.
 */

export const GATED =
  'script[type="text/plain"][data-category]:not([data-consentry]),' +
  'iframe[data-category][data-src]:not([data-consentry])';
const RAN = 'data-consentry';

/** Whether a gated element may run now. */
export function releasable(el, accepted) {
  return !el.hasAttribute(RAN) && accepted(el.getAttribute('data-category'));
}

/** Run a gated script (a real copy, same attributes) or load a gated iframe. */
export function release(el, doc) {
  el.setAttribute(RAN, 'ran');
  if (el.tagName === 'IFRAME') {
    el.src = el.getAttribute('data-src');
    return;
  }
  const script = doc.createElement('script');
  for (const { name, value } of el.attributes) {
    if (name !== 'type') script.setAttribute(name, value);
  }
  const type = el.getAttribute('data-type');
  if (type) script.type = type;
  if (el.hasAttribute('src')) script.async = false;
  else script.text = el.text;
  el.replaceWith(script);
}

/** Release every gated element under `root` whose category is accepted. */
export function sweep(root, accepted, doc) {
  const found = root.querySelectorAll ? [...root.querySelectorAll(GATED)] : [];
  if (root.matches && root.matches(GATED)) found.unshift(root);
  for (const el of found) if (releasable(el, accepted)) release(el, doc);
}

/** Keep releasing gated elements added later (a single-page app's client-side route). */
export function watch(doc, accepted) {
  const observer = new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) if (node.nodeType === 1) sweep(node, accepted, doc);
    }
  });
  observer.observe(doc.documentElement, { childList: true, subtree: true });
  return observer;
}
