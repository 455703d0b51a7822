/**
 * The banner's own words (labels around the site's texts: close, table headings, cookie
 * types). The site's texts come from its config, in the language the server picked.
 */

const KEYS = ['close', 'policy', 'cookies', 'name', 'provider', 'purpose', 'type', 'duration',
  'session', 'persistent', 'always'];
const WORDS = {
  en: 'Close|Privacy policy|Cookies|Name|Provider|Purpose|Type|Duration|Session|Persistent|Always on',
  de: 'Schließen|Datenschutzerklärung|Cookies|Name|Anbieter|Zweck|Art|Dauer|Sitzung|Dauerhaft|Immer aktiv',
  fr: 'Fermer|Politique de confidentialité|Cookies|Nom|Fournisseur|Finalité|Type|Durée|Session|Persistant|Toujours actif',
  es: 'Cerrar|Política de privacidad|Cookies|Nombre|Proveedor|Finalidad|Tipo|Duración|Sesión|Persistente|Siempre activas',
  it: 'Chiudi|Informativa sulla privacy|Cookie|Nome|Fornitore|Finalità|Tipo|Durata|Sessione|Persistente|Sempre attivi',
  nl: 'Sluiten|Privacybeleid|Cookies|Naam|Aanbieder|Doel|Type|Duur|Sessie|Blijvend|Altijd aan',
};

/** The banner's words in `language` (`de-AT` reads `de`), English when it has none. */
export function uiWords(language) {
  const base = String(language || '').toLowerCase().split('-')[0];
  const words = (WORDS[base] || WORDS.en).split('|');
  return Object.fromEntries(KEYS.map((key, i) => [key, words[i]]));
}

/**
 * The language to ask the server for: the script's `data-lang`, else `<html lang>`; empty
 * lets the server use Accept-Language (the browser's languages), then the site default.
 */
export function requestedLanguage(dataLang, htmlLang) {
  return (dataLang || htmlLang || '').trim();
}
