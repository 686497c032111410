# ruff: noqa: E501  (a catalogue: one line per text, as the English key reads)
"""The words of the portal's doors (login, first login, a forgotten password, refusals at the
door), by language, keyed by the English text like portal/i18n.py's catalogue, which takes
them in."""

DE: dict[str, str] = {
    "The user name or the password is wrong.": "Benutzername oder Passwort ist falsch.",
    "Too many attempts from your address: wait a minute and try again.": "Zu viele Versuche von Ihrer Adresse: Warten Sie eine Minute und versuchen Sie es "
    "erneut.",
    "Too many failed attempts: wait {seconds} second(s) and try again.": "Zu viele Fehlversuche: Warten Sie {seconds} Sekunde(n) und versuchen Sie es erneut.",
    "This login link is not valid, has expired or was used already: log in with your password, or ask your channel manager for a new invitation.": "Dieser Anmeldelink ist ungültig, abgelaufen oder wurde schon benutzt: Melden Sie "
    "sich mit Ihrem Passwort an oder bitten Sie Ihren Channel Manager um eine neue Einladung.",
    "This link is not valid, has expired or was used already: ask for a new one.": "Dieser Link ist ungültig, abgelaufen oder wurde schon benutzt: Fordern Sie einen "
    "neuen an.",
    "Forgotten password": "Passwort vergessen",
    "Forgotten your password?": "Passwort vergessen?",
    "User name or e-mail address": "Benutzername oder E-Mail-Adresse",
    "Send me a link": "Link zusenden",
    "Give your user name or your e-mail address.": "Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse an.",
    "If {who} is a user of the partner portal, an e-mail with a link to set a new password is on its way. The link works once, for one hour.": "Wenn {who} ein Benutzer des Partnerportals ist, ist eine E-Mail mit einem Link "
    "unterwegs, mit dem Sie ein neues Passwort festlegen. Der Link gilt einmal, eine Stunde "
    "lang.",
    "Set a new password": "Neues Passwort festlegen",
    "Your new password is set: log in with it.": "Ihr neues Passwort ist festgelegt: Melden Sie sich damit an.",
    "Bad request": "Ungültige Anfrage",
    "The request could not be read: please try again.": "Die Anfrage konnte nicht gelesen werden: Bitte versuchen Sie es erneut.",
    "There is no such page.": "Diese Seite gibt es nicht.",
}

NB: dict[str, str] = {
    "The user name or the password is wrong.": "Brukernavnet eller passordet er feil.",
    "Too many attempts from your address: wait a minute and try again.": "For mange forsøk fra adressen din: vent et minutt og prøv igjen.",
    "Too many failed attempts: wait {seconds} second(s) and try again.": "For mange mislykkede forsøk: vent {seconds} sekund(er) og prøv igjen.",
    "This login link is not valid, has expired or was used already: log in with your password, or ask your channel manager for a new invitation.": "Denne innloggingslenken er ugyldig, utløpt eller allerede brukt: logg inn med "
    "passordet ditt, eller be kanalansvarlig om en ny invitasjon.",
    "This link is not valid, has expired or was used already: ask for a new one.": "Denne lenken er ugyldig, utløpt eller allerede brukt: be om en ny.",
    "Forgotten password": "Glemt passord",
    "Forgotten your password?": "Glemt passordet?",
    "User name or e-mail address": "Brukernavn eller e-postadresse",
    "Send me a link": "Send meg en lenke",
    "Give your user name or your e-mail address.": "Oppgi brukernavnet eller e-postadressen din.",
    "If {who} is a user of the partner portal, an e-mail with a link to set a new password is on its way. The link works once, for one hour.": "Hvis {who} er bruker av partnerportalen, er en e-post med en lenke for å velge et "
    "nytt passord på vei. Lenken virker én gang, i én time.",
    "Set a new password": "Velg et nytt passord",
    "Your new password is set: log in with it.": "Det nye passordet ditt er satt: logg inn med det.",
    "Bad request": "Ugyldig forespørsel",
    "The request could not be read: please try again.": "Forespørselen kunne ikke leses: prøv igjen.",
    "There is no such page.": "Denne siden finnes ikke.",
}

WORDS = {"de": DE, "nb": NB}
