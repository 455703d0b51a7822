"""The cookie declaration page's own words, in the languages the banner ships.

The site's texts name and describe its categories; these are the words around them. A
site language without an entry here gets the page's English words around its own texts.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DeclarationWords:
    heading: str
    intro: str  # {site}: the site's name
    necessary_note: str
    kinds_heading: str
    session: str
    persistent: str
    session_explained: str
    persistent_explained: str
    wildcard_explained: str
    name: str
    provider: str
    purpose: str
    type: str
    duration: str
    always_on: str
    optional: str
    no_cookies: str
    policy_version: str
    policy_link: str
    change_elsewhere: str  # {site}: the site's name


WORDS = {
    "en": DeclarationWords(
        heading="Cookie declaration",
        intro="{site} uses the cookies listed below, grouped by purpose.",
        necessary_note="Strictly necessary cookies are always set. Every other category is "
        "used only with your consent, which you can give, refuse or withdraw at any time.",
        kinds_heading="Session and persistent cookies",
        session="Session",
        persistent="Persistent",
        session_explained="A session cookie is deleted when you close your browser.",
        persistent_explained="A persistent cookie stays on your device for the duration "
        "shown, or until you delete it.",
        wildcard_explained="In a name, * stands for any run of characters.",
        name="Name",
        provider="Provider",
        purpose="Purpose",
        type="Type",
        duration="Duration",
        always_on="Always on",
        optional="With your consent",
        no_cookies="No cookies are declared in this category.",
        policy_version="Policy version",
        policy_link="Privacy policy",
        change_elsewhere="Change your choice with the cookie settings link on {site}.",
    ),
    "de": DeclarationWords(
        heading="Cookie-Erklärung",
        intro="{site} verwendet die unten aufgeführten Cookies, nach Zweck gruppiert.",
        necessary_note="Unbedingt erforderliche Cookies werden immer gesetzt. Alle anderen "
        "Kategorien werden nur mit Ihrer Einwilligung verwendet, die Sie jederzeit erteilen, "
        "verweigern oder widerrufen können.",
        kinds_heading="Sitzungs- und dauerhafte Cookies",
        session="Sitzung",
        persistent="Dauerhaft",
        session_explained="Ein Sitzungs-Cookie wird gelöscht, wenn Sie Ihren Browser schließen.",
        persistent_explained="Ein dauerhaftes Cookie bleibt für die angegebene Dauer auf "
        "Ihrem Gerät oder bis Sie es löschen.",
        wildcard_explained="In einem Namen steht * für beliebige Zeichen.",
        name="Name",
        provider="Anbieter",
        purpose="Zweck",
        type="Art",
        duration="Dauer",
        always_on="Immer aktiv",
        optional="Mit Ihrer Einwilligung",
        no_cookies="In dieser Kategorie sind keine Cookies angegeben.",
        policy_version="Version der Richtlinie",
        policy_link="Datenschutzerklärung",
        change_elsewhere="Ändern Sie Ihre Wahl über den Link zu den Cookie-Einstellungen "
        "auf {site}.",
    ),
    "fr": DeclarationWords(
        heading="Déclaration relative aux cookies",
        intro="{site} utilise les cookies ci-dessous, regroupés par finalité.",
        necessary_note="Les cookies strictement nécessaires sont toujours déposés. Toutes les "
        "autres catégories ne sont utilisées qu'avec votre consentement, que vous pouvez "
        "donner, refuser ou retirer à tout moment.",
        kinds_heading="Cookies de session et cookies persistants",
        session="Session",
        persistent="Persistant",
        session_explained="Un cookie de session est supprimé à la fermeture de votre navigateur.",
        persistent_explained="Un cookie persistant reste sur votre appareil pendant la durée "
        "indiquée, ou jusqu'à ce que vous le supprimiez.",
        wildcard_explained="Dans un nom, * remplace n'importe quelle suite de caractères.",
        name="Nom",
        provider="Fournisseur",
        purpose="Finalité",
        type="Type",
        duration="Durée",
        always_on="Toujours actif",
        optional="Avec votre consentement",
        no_cookies="Aucun cookie n'est déclaré dans cette catégorie.",
        policy_version="Version de la politique",
        policy_link="Politique de confidentialité",
        change_elsewhere="Modifiez votre choix avec le lien des paramètres des cookies sur {site}.",
    ),
    "es": DeclarationWords(
        heading="Declaración de cookies",
        intro="{site} utiliza las cookies que se indican a continuación, agrupadas por finalidad.",
        necessary_note="Las cookies estrictamente necesarias se instalan siempre. Las demás "
        "categorías solo se usan con tu consentimiento, que puedes dar, rechazar o retirar "
        "en cualquier momento.",
        kinds_heading="Cookies de sesión y persistentes",
        session="Sesión",
        persistent="Persistente",
        session_explained="Una cookie de sesión se elimina al cerrar el navegador.",
        persistent_explained="Una cookie persistente permanece en tu dispositivo durante el "
        "tiempo indicado o hasta que la elimines.",
        wildcard_explained="En un nombre, * representa cualquier secuencia de caracteres.",
        name="Nombre",
        provider="Proveedor",
        purpose="Finalidad",
        type="Tipo",
        duration="Duración",
        always_on="Siempre activas",
        optional="Con tu consentimiento",
        no_cookies="No se declaran cookies en esta categoría.",
        policy_version="Versión de la política",
        policy_link="Política de privacidad",
        change_elsewhere="Cambia tu elección con el enlace de configuración de cookies en {site}.",
    ),
    "it": DeclarationWords(
        heading="Dichiarazione sui cookie",
        intro="{site} utilizza i cookie elencati di seguito, raggruppati per finalità.",
        necessary_note="I cookie strettamente necessari sono sempre installati. Tutte le altre "
        "categorie sono usate solo con il tuo consenso, che puoi dare, negare o revocare in "
        "qualsiasi momento.",
        kinds_heading="Cookie di sessione e persistenti",
        session="Sessione",
        persistent="Persistente",
        session_explained="Un cookie di sessione viene eliminato quando chiudi il browser.",
        persistent_explained="Un cookie persistente resta sul tuo dispositivo per la durata "
        "indicata o finché non lo elimini.",
        wildcard_explained="In un nome, * sta per qualsiasi sequenza di caratteri.",
        name="Nome",
        provider="Fornitore",
        purpose="Finalità",
        type="Tipo",
        duration="Durata",
        always_on="Sempre attivi",
        optional="Con il tuo consenso",
        no_cookies="Nessun cookie dichiarato in questa categoria.",
        policy_version="Versione dell'informativa",
        policy_link="Informativa sulla privacy",
        change_elsewhere="Modifica la tua scelta con il link alle impostazioni cookie su {site}.",
    ),
    "nl": DeclarationWords(
        heading="Cookieverklaring",
        intro="{site} gebruikt de cookies hieronder, gegroepeerd per doel.",
        necessary_note="Strikt noodzakelijke cookies worden altijd geplaatst. Alle andere "
        "categorieën worden alleen gebruikt met uw toestemming, die u op elk moment kunt "
        "geven, weigeren of intrekken.",
        kinds_heading="Sessiecookies en blijvende cookies",
        session="Sessie",
        persistent="Blijvend",
        session_explained="Een sessiecookie wordt verwijderd wanneer u uw browser sluit.",
        persistent_explained="Een blijvende cookie blijft gedurende de vermelde duur op uw "
        "apparaat staan, of totdat u hem verwijdert.",
        wildcard_explained="In een naam staat * voor willekeurige tekens.",
        name="Naam",
        provider="Aanbieder",
        purpose="Doel",
        type="Type",
        duration="Duur",
        always_on="Altijd aan",
        optional="Met uw toestemming",
        no_cookies="In deze categorie zijn geen cookies opgegeven.",
        policy_version="Beleidsversie",
        policy_link="Privacybeleid",
        change_elsewhere="Wijzig uw keuze via de link naar de cookie-instellingen op {site}.",
    ),
}


def words_for(language: str) -> DeclarationWords:
    """The page's words in ``language`` (``de-AT`` reads ``de``), else in English."""
    return WORDS.get(language) or WORDS.get(language.split("-")[0]) or WORDS["en"]
