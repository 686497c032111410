"""The portal's words in the reader's language, and dates and amounts in its local format
(babel's CLDR data).

Which language: the user's own (the contact's, else its partner's, as the relay picks the
language of an e-mail), when the portal speaks it; a user without one reads the language its
partner's vendor works in: German for the Wildix partners, the portal's default
(PARTNERFLOW_PORTAL_LANGUAGE). A language the portal does not speak falls back to
English. Before login, the browser's Accept-Language decides among the languages we have.

The catalogue is keyed by the English text: a missing translation shows English, never a
key. What the processes answer travels as a code with values and is said in these words
too (portal/answers.py); only a refusal the portal has no words for shows the process's
English reason, introduced in the reader's language."""

import os
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime, get_timezone
from babel.numbers import format_decimal

from portal.words_nb import NB

LANGUAGES = ("de", "nb", "en")
FALLBACK = "en"
LOCALES = {"de": "de_DE", "nb": "nb_NO", "en": "en_GB"}
# Norwegian as people write it: "no" (and Nynorsk readers read Bokmål here)
ALIASES = {"no": "nb", "nn": "nb"}
TIME_ZONE = "Europe/Berlin"  # the partners' business day (docs/processes.md "Business dates")


def default_language() -> str:
    chosen = os.environ.get("PARTNERFLOW_PORTAL_LANGUAGE", "de").strip().lower()
    return chosen if chosen in LANGUAGES else FALLBACK


def language_of(own: str | None) -> str:
    """The language of a logged-in user (its contact's or partner's, may be None)."""
    if not own:
        return default_language()
    own = ALIASES.get(own, own)
    return own if own in LANGUAGES else FALLBACK


def from_accept_language(header: str | None) -> str:
    """Before login: the first language of the browser's list that we speak."""
    for part in (header or "").split(","):
        tag = part.split(";")[0].strip().lower()
        base = ALIASES.get(tag.split("-")[0], tag.split("-")[0])
        if base in LANGUAGES:
            return base
    return default_language()


DE: dict[str, str] = {
    # layout and navigation
    "Partner portal": "Partnerportal",
    "Skip to content": "Zum Inhalt springen",
    "Main navigation": "Hauptnavigation",
    "Orders to confirm": "Zu bestätigende Bestellungen",
    "Documents": "Unterlagen",
    "Lead inbox": "Lead-Eingang",
    "My leads": "Meine Leads",
    "My opportunities": "Meine Verkaufschancen",
    "Log out": "Abmelden",
    "Logged in as {name} ({user}), {partner}": "Angemeldet als {name} ({user}), {partner}",
    "Logged in as {name}, {partner}": "Angemeldet als {name}, {partner}",
    "Home": "Start",
    # login
    "Log in": "Anmelden",
    "User name": "Benutzername",
    "Your user name is the id in your invitation e-mail, e.g. C-NORD-1.": "Ihr Benutzername steht in Ihrer Einladungs-E-Mail, z. B. C-NORD-1.",
    "Password": "Passwort",
    "The user name or the password is wrong.": "Benutzername oder Passwort ist falsch.",
    "Too many failed logins: this user is locked for {minutes} more minute(s). Ask your "
    "channel manager if you forgot your password.": "Zu viele fehlgeschlagene Anmeldungen: Dieser Benutzer ist noch {minutes} Minute(n) "
    "gesperrt. Fragen Sie Ihren Channel Manager, wenn Sie Ihr Passwort vergessen haben.",
    "Too many login attempts from your address: wait a minute and try again.": "Zu viele Anmeldeversuche von Ihrer Adresse: Warten Sie eine Minute und versuchen "
    "Sie es erneut.",
    "You are logged out.": "Sie sind abgemeldet.",
    "Please log in.": "Bitte melden Sie sich an.",
    "Your session has ended: please log in again.": "Ihre Sitzung ist beendet: Bitte melden Sie sich erneut an.",
    # first login
    "Set your password": "Passwort festlegen",
    "Welcome, {user}. Choose the password for the partner portal of {partner}.": "Willkommen, {user}. Wählen Sie Ihr Passwort für das Partnerportal von {partner}.",
    "New password": "Neues Passwort",
    "New password again": "Neues Passwort wiederholen",
    "At least {n} characters, at least 5 different ones, not your user name, no space at the "
    "start or end.": "Mindestens {n} Zeichen, davon mindestens 5 verschiedene, nicht Ihr Benutzername, "
    "kein Leerzeichen am Anfang oder Ende.",
    "Set password": "Passwort festlegen",
    "The two passwords differ.": "Die beiden Passwörter stimmen nicht überein.",
    "needs at least {n} characters": "braucht mindestens {n} Zeichen",
    "must not start or end with a space": "darf nicht mit einem Leerzeichen beginnen oder enden",
    "must not contain the user name {user}": "darf den Benutzernamen {user} nicht enthalten",
    "needs at least 5 different characters": "braucht mindestens 5 verschiedene Zeichen",
    "Choose another password: it {problems}.": "Wählen Sie ein anderes Passwort: Es {problems}.",
    "This login link is not complete: open the link from your invitation e-mail.": "Dieser Anmeldelink ist unvollständig: Öffnen Sie den Link aus Ihrer Einladungs-E-Mail.",
    "This login link was used already: log in with your password.": "Dieser Anmeldelink wurde schon verwendet: Melden Sie sich mit Ihrem Passwort an.",
    # orders
    "No orders are waiting for your confirmation.": "Keine Bestellungen warten auf Ihre Bestätigung.",
    "Fast change order": "Schnelle Änderungsbestellung",
    "Change order (quote)": "Änderungsbestellung (Angebot)",
    "Order {order} for {account} ({account_id}), PBX {pbx}": "Bestellung {order} für {account} ({account_id}), PBX {pbx}",
    "created {when}": "erstellt am {when}",
    "Product": "Produkt",
    "Change": "Änderung",
    "Starts": "Beginn",
    "New total": "Neue Gesamtzahl",
    "Now": "Bisher",
    "when the order is applied": "bei Ausführung der Bestellung",
    "Licence totals": "Lizenz-Gesamtzahlen",
    "Lines": "Positionen",
    "CLASSOUND-FLATs and DIDs": "CLASSOUND-FLATs und DIDs",
    "{licence}: {n} CLASSOUND-FLAT(s) added.": "{licence}: {n} CLASSOUND-FLAT(s) kommen hinzu.",
    "{licence}: {n} CLASSOUND-FLAT(s) cancelled at once (the licences they sit on are removed).": "{licence}: {n} CLASSOUND-FLAT(s) werden sofort gekündigt (ihre Lizenzen entfallen).",
    "Their DIDs stay active until customer care cancels them: {dids}.": "Ihre DIDs bleiben aktiv, bis der Kundenservice sie kündigt: {dids}.",
    "{licence}: {n} CLASSOUND-FLAT(s) stay as they are.": "{licence}: {n} CLASSOUND-FLAT(s) bleiben unverändert.",
    "No CLASSOUND-FLATs or DIDs are affected.": "Keine CLASSOUND-FLATs oder DIDs betroffen.",
    "Confirm order": "Bestellung bestätigen",
    "for {account}": "für {account}",
    # documents
    "No orders are waiting for documents.": "Keine Bestellungen warten auf Unterlagen.",
    "Change order {quote} for {account} ({account_id}), PBX {pbx}": "Änderungsbestellung {quote} für {account} ({account_id}), PBX {pbx}",
    "CLASSOUND-FLATs on the quote: {flats}": "CLASSOUND-FLATs im Angebot: {flats}",
    "CLASSOUND order for {account} ({account_id}), PBX {pbx}": "CLASSOUND-Bestellung für {account} ({account_id}), PBX {pbx}",
    "CLASSOUND activation": "CLASSOUND-Aktivierung",
    "Classound ordering": "Classound-Bestellung",
    "{n} number(s) to port": "{n} Rufnummer(n) zu portieren",
    "Still missing: {what}.": "Es fehlen noch: {what}.",
    "Both documents are there: the order can be confirmed.": "Beide Unterlagen liegen vor: Die Bestellung kann bestätigt werden.",
    "Uploaded": "Hochgeladen",
    "Deadline: {when}": "Frist: {when}",
    "Document": "Unterlage",
    "File (PDF, PNG or JPEG, at most 10 MB)": "Datei (PDF, PNG oder JPEG, höchstens 10 MB)",
    "Upload": "Hochladen",
    "LOA": "LOA (Portierungsauftrag)",
    "last invoice": "letzte Rechnung",
    "{file} by {user}, {when}": "{file} von {user}, {when}",
    "Choose a file to upload.": "Wählen Sie eine Datei zum Hochladen.",
    "Choose LOA or last invoice.": "Wählen Sie LOA oder letzte Rechnung.",
    # leads
    "You are in no lead queue yet.": "Sie sind noch in keiner Lead-Warteschlange.",
    "No leads are waiting in your queues.": "In Ihren Warteschlangen warten keine Leads.",
    "Queue": "Warteschlange",
    "Company": "Firma",
    "Where": "Ort",
    "Interest": "Interesse",
    "Waiting since": "Wartet seit",
    "Actions": "Aktionen",
    "Accept lead": "Lead übernehmen",
    "Accept lead {lead} ({company})": "Lead {lead} ({company}) übernehmen",
    "You have no open leads.": "Sie haben keine offenen Leads.",
    "Contact": "Kontakt",
    "Status": "Status",
    "owned": "neu bei Ihnen",
    "accepted": "in Bearbeitung",
    "Work on it": "In Bearbeitung nehmen",
    "Not interested": "Kein Interesse",
    "Reason": "Grund",
    "Why is this lead not of interest?": "Warum ist dieser Lead nicht interessant?",
    "Give back": "Zurückgeben",
    "Convert to opportunity": "In Verkaufschance umwandeln",
    "Stage": "Phase",
    "Expected amount (EUR)": "Erwarteter Betrag (EUR)",
    "Expected close date": "Erwarteter Abschluss",
    "Convert": "Umwandeln",
    "Lead {lead}: {company}": "Lead {lead}: {company}",
    # opportunities
    "You have no opportunities yet.": "Sie haben noch keine Verkaufschancen.",
    "Opportunity {opp}: {company}": "Verkaufschance {opp}: {company}",
    "Amount": "Betrag",
    "Close date": "Abschlussdatum",
    "Updated": "Aktualisiert",
    "Save": "Speichern",
    "Update opportunity {opp}": "Verkaufschance {opp} aktualisieren",
    "unchanged": "unverändert",
    "prospecting": "Akquise",
    "qualification": "Qualifizierung",
    "proposal": "Angebot",
    "negotiation": "Verhandlung",
    "closed-won": "gewonnen",
    "closed-lost": "verloren",
    "Use an amount such as 12500 or 12500,50.": "Geben Sie einen Betrag an, z. B. 12500 oder 12500,50.",
    "Use a date.": "Geben Sie ein Datum an.",
    "Give a stage, an amount or a close date.": "Geben Sie eine Phase, einen Betrag oder ein Abschlussdatum an.",
    "Say why (at least 3 characters).": "Geben Sie einen Grund an (mindestens 3 Zeichen).",
    # outcomes
    "Done: {message}": "Erledigt: {message}",
    "Refused: {message}": "Abgelehnt: {message}",
    "No answer in time: the step may still be carried out. Reload the page in a minute.": "Keine Antwort in der Zeit: Der Schritt wird eventuell noch ausgeführt. Laden Sie die "
    "Seite in einer Minute neu.",
    "This item is not one of yours, or it no longer exists.": "Dieser Eintrag gehört nicht zu Ihnen oder existiert nicht mehr.",
    "The form has expired or did not come from this page: please try again.": "Das Formular ist abgelaufen oder stammt nicht von dieser Seite: Bitte versuchen Sie "
    "es erneut.",
    "Forbidden": "Nicht erlaubt",
    "Not found": "Nicht gefunden",
    "Error": "Fehler",
    "Go to the start page": "Zur Startseite",
    "The portal cannot reach the order system right now: try again in a minute.": "Das Portal erreicht das Bestellsystem gerade nicht: Versuchen Sie es in einer Minute "
    "erneut.",
}

DE.update(
    {
        # home
        "Welcome, {name}": "Willkommen, {name}",
        "What waits for you": "Was auf Sie wartet",
        "Nothing waits for you right now.": "Gerade wartet nichts auf Sie.",
        "Orders waiting for your confirmation": "Bestellungen, die auf Ihre Bestätigung warten",
        "Orders missing documents": "Bestellungen mit fehlenden Unterlagen",
        "Leads to work on before they go back to the queue": "Leads, die Sie bearbeiten sollten, bevor sie in die Warteschlange zurückgehen",
        "Opportunities closing this month": "Verkaufschancen mit Abschluss in diesem Monat",
        "back to the queue {when}": "zurück in die Warteschlange am {when}",
        "closes {when}": "Abschluss am {when}",
        "{n} waiting": "{n} offen",
        # orders: prices and declining
        "Price per month": "Preis pro Monat",
        "Monthly total now": "Monatlicher Gesamtbetrag bisher",
        "Monthly total after the order": "Monatlicher Gesamtbetrag nach der Bestellung",
        "List prices per month, without VAT.": "Listenpreise pro Monat, ohne MwSt.",
        "One-off": "Einmalig",
        "Decline order": "Bestellung ablehnen",
        "Why do you decline this order?": "Warum lehnen Sie diese Bestellung ab?",
        "Say why (at least 3 characters, at most 500).": "Geben Sie einen Grund an (mindestens 3, höchstens 500 Zeichen).",
        # documents: what happens next
        "Your CLASSOUND orders": "Ihre CLASSOUND-Bestellungen",
        "What happens next": "Wie es weitergeht",
        "Both documents are there: our staff confirm the order next.": "Beide Unterlagen liegen vor: Als Nächstes bestätigt unser Team die Bestellung.",
        "Porting is requested from the old carrier; the porting date follows.": "Die Portierung ist beim bisherigen Anbieter beantragt; das Portierungsdatum folgt.",
        "Porting on {when}.": "Portierung am {when}.",
        "The old carrier refused the porting: {reason}": "Der bisherige Anbieter hat die Portierung abgelehnt: {reason}",
        "Active since {when}: {numbers}": "Aktiv seit {when}: {numbers}",
        "Download": "Herunterladen",
        "Download {file}": "{file} herunterladen",
        "{name} is empty: upload the scanned or exported document.": "{name} ist leer: Laden Sie das eingescannte oder exportierte Dokument hoch.",
        "{name} is larger than {limit}: scan it at a lower resolution.": "{name} ist größer als {limit}: Scannen Sie es mit geringerer Auflösung.",
        "{name} is not a PDF, PNG or JPEG file (judged by its content, not its name): export or scan the document as PDF or image.": "{name} ist keine PDF-, PNG- oder JPEG-Datei (geprüft am Inhalt, nicht am Namen): Exportieren oder scannen Sie das Dokument als PDF oder Bild.",
        # answers the portal has no words for
        "The order system refused this step: {reason}": "Das Bestellsystem hat den Schritt abgelehnt: {reason}",
        "The process has ended: nothing can be done on it any more.": "Der Vorgang ist beendet: Daran kann nichts mehr geändert werden.",
        "The lead queue {queue} does not exist any more.": "Die Lead-Warteschlange {queue} existiert nicht mehr.",
    }
)

CATALOGUES = {"de": DE, "nb": NB, "en": {}}


class Words:
    """`_("text", **values)` in templates and views, for one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else FALLBACK
        self.locale = LOCALES[self.language]
        self._table = CATALOGUES[self.language]

    def __call__(self, text: str, **values) -> str:
        out = self._table.get(text, text)
        return out.format(**values) if values else out

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(
            value, format="medium", tzinfo=get_timezone(TIME_ZONE), locale=self.locale
        )

    def amount(self, value: Decimal | None) -> str:
        if value is None:
            return ""
        return format_decimal(value, format="#,##0.00", locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)


# The doors' own words (login, passwords, refusals at the door) live beside this catalogue.
from portal.door_words import WORDS as _DOOR_WORDS  # noqa: E402

for _language, _table in _DOOR_WORDS.items():
    for _english, _said in _table.items():
        CATALOGUES.setdefault(_language, {}).setdefault(_english, _said)
