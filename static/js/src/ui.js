/**
 * What the visitor sees: the first layer, the preferences dialog and the dock (Cookie
 * settings, Do Not Sell, the GPC notice). Builders only: main.js decides what is shown.
 * `view` = {doc, texts (the site's, from its config), words (i18n.js), config}.
 */

import { h, safeHref } from './dom.js';

function button(view, cy, label, onclick, cls = 'cy-b') {
  return h(view.doc, 'button', { type: 'button', class: cls, 'data-cy': cy, onclick }, label);
}

function rememberBox(view, cy, remembered, onchange) {
  const { doc, texts } = view;
  return h(doc, 'label', { class: 'cy-rem' },
    h(doc, 'input', { type: 'checkbox', 'data-cy': cy, checked: remembered,
      onchange: (e) => onchange(e.target.checked) }),
    texts.remember);
}

/** The first layer: title, description, policy link, remember checkbox, three equal buttons. */
export function renderBanner(view, remembered, actions) {
  const { doc, texts, words, config } = view;
  const href = safeHref(config.policy_url, doc.baseURI);
  return h(doc, 'div', { id: 'consentry-banner', class: 'cy-banner', role: 'region',
    'aria-label': texts.title, lang: config.language },
    h(doc, 'h2', null, texts.title),
    h(doc, 'p', null, texts.description, href && ' ', href && h(doc, 'a', { href }, words.policy)),
    config.remember_choice && rememberBox(view, 'remember', remembered, actions.remember),
    h(doc, 'div', { class: 'cy-grid' },
      button(view, 'accept_all', texts.accept_all, () => actions.decide('accept_all')),
      button(view, 'reject_all', texts.reject_all, () => actions.decide('reject_all')),
      button(view, 'manage', texts.manage, (e) => actions.manage(e.currentTarget))));
}

function cookieTable(view, category) {
  const { doc, words } = view;
  const { cookies } = category;
  const heads = [words.name, words.provider, words.purpose, words.type, words.duration];
  // data-label: on a phone each row is shown as a card, each cell with its heading.
  const cells = (tag, values) => h(doc, 'tr', null, values.map((v, i) =>
    h(doc, tag, tag === 'th' ? { scope: 'col' } : { 'data-label': heads[i] }, v)));
  const id = `consentry-t-${category.id}`;
  const table = h(doc, 'div', { id, hidden: true },
    h(doc, 'table', null,
      h(doc, 'thead', null, cells('th', heads)),
      h(doc, 'tbody', null, cookies.map((c) => cells('td',
        [c.name, c.provider, c.purpose, words[c.type] || c.type, c.duration])))));
  // A disclosure button (not <details>): a plain button every browser and reader announces.
  const toggle = h(doc, 'button', { type: 'button', class: 'cy-more', 'aria-expanded': 'false',
    'aria-controls': id, onclick: () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      table.hidden = !open;
    } }, `${words.cookies} (${cookies.length})`);
  return [toggle, table];
}

function categoryBlock(view, category, granted) {
  const { doc, texts, words } = view;
  const text = texts.categories[category.id] || { title: category.id, description: '' };
  const id = `consentry-c-${category.id}`;
  return h(doc, 'div', { class: 'cy-cat' },
    h(doc, 'div', { class: 'cy-row' },
      h(doc, 'h3', null, h(doc, 'label', { for: id }, text.title)),
      category.necessary && h(doc, 'span', null, words.always),
      h(doc, 'input', { type: 'checkbox', class: 'cy-sw', id, 'data-cy-category': category.id,
        checked: category.necessary || granted, disabled: category.necessary })),
    text.description && h(doc, 'p', null, text.description),
    category.cookies.length > 0 && cookieTable(view, category));
}

/**
 * The preferences dialog inside its backdrop: one switch per category with its cookie
 * inventory, Save, Accept all, Reject all, Close. Answers `{backdrop, dialog, picked()}`.
 */
export function renderPrefs(view, choices, remembered, actions) {
  const { doc, texts, words, config } = view;
  const blocks = config.categories.map((c) => categoryBlock(view, c, choices[c.id] === true));
  const picked = () => {
    const result = {};
    for (const input of dialog.querySelectorAll('input[data-cy-category]')) {
      result[input.getAttribute('data-cy-category')] = input.checked;
    }
    return result;
  };
  const dialog = h(doc, 'div', { id: 'consentry-prefs', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'consentry-prefs-title', lang: config.language },
    h(doc, 'div', { class: 'cy-head' },
      h(doc, 'h2', { id: 'consentry-prefs-title' }, texts.cookie_settings),
      h(doc, 'button', { type: 'button', class: 'cy-x', 'data-cy': 'close', 'aria-label': words.close,
        onclick: actions.close }, '×')),
    h(doc, 'div', { class: 'cy-body' },
      h(doc, 'p', null, texts.description),
      blocks,
      config.remember_choice && rememberBox(view, 'remember', remembered, actions.remember)),
    h(doc, 'div', { class: 'cy-foot cy-grid' },
      button(view, 'reject_all', texts.reject_all, () => actions.decide('reject_all')),
      button(view, 'accept_all', texts.accept_all, () => actions.decide('accept_all')),
      button(view, 'save', texts.save, () => actions.decide(null, picked()))));
  const backdrop = h(doc, 'div', { class: 'cy-back' }, dialog);
  return { backdrop, dialog };
}

/**
 * The dock: a floating Cookie settings button, a Do Not Sell link (opt-out regions) and the
 * GPC notice, each only when asked for; null when there is nothing to show.
 */
export function renderDock(view, show, open) {
  const { doc, texts } = view;
  if (!show.settings && !show.doNotSell && !show.gpcNotice) return null;
  return h(doc, 'div', { class: 'cy-dock', role: 'region', 'aria-label': texts.cookie_settings,
    lang: view.config.language },
    show.gpcNotice && h(doc, 'p', { class: 'cy-note cy-ok', role: 'status', 'data-cy': 'gpc_notice' },
      texts.gpc_honoured),
    show.doNotSell && h(doc, 'a', { href: '#', class: 'cy-note', 'data-cy': 'do_not_sell',
      onclick: (e) => { e.preventDefault(); open(e.currentTarget); } }, texts.do_not_sell),
    show.settings && button(view, 'settings', texts.cookie_settings,
      (e) => open(e.currentTarget), 'cy-set'));
}
