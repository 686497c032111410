"""A claim's answer in the partner's language. The rules (domain/leads/steps.py) give their
words and values apart; the words, in English, are the key of the translation here. Words
without a translation are shown in English, with their values."""

from domain.leads.steps import ALREADY_YOURS, CLAIMED, CLAIMED_WITHIN

_CLAIMED_DE = (
    "Lead {lead} gehört jetzt Ihnen, {user}: kein anderer Partner kann ihn mehr übernehmen "
    "({partner} hat {held} von {cap} offenen Leads in der Warteschlange {queue})"
)

DE: dict[str, str] = {
    CLAIMED: _CLAIMED_DE,
    CLAIMED_WITHIN: _CLAIMED_DE + "; bearbeiten Sie ihn (annehmen, umwandeln oder "
    "„nicht interessant“) innerhalb von {minutes} Minute(n), sonst geht er zurück in die "
    "Warteschlange",
    ALREADY_YOURS: "Lead {lead} gehört bereits Ihnen, {user}",
    "lead {lead} is already claimed by {owner}": "Lead {lead} ist bereits von {owner} übernommen",
    "partner {partner} is at the claim cap of queue {queue}: {held} open leads of {cap}; "
    "convert one before claiming more": "Partner {partner} hat die Obergrenze der "
    "Warteschlange {queue} erreicht: {held} von {cap} offenen Leads; wandeln Sie einen um, "
    "bevor Sie weitere übernehmen",
    "{user} is not eligible for queue {queue}: {reason}": "{user} darf aus der "
    "Warteschlange {queue} keine Leads übernehmen: {reason}",
    "{user} is not eligible for queue {queue}: not a user of one of its partners": "{user} "
    "darf aus der Warteschlange {queue} keine Leads übernehmen: kein Benutzer eines ihrer "
    "Partner",
    "there is no lead {lead} in queue {queue}": "In der Warteschlange {queue} gibt es keinen "
    "Lead {lead}",
}

_CLAIMED_NB = (
    "lead {lead} er nå din, {user}: ingen annen partner kan ta den ({partner} har {held} av "
    "{cap} åpne leads i køen {queue})"
)

NB: dict[str, str] = {
    CLAIMED: _CLAIMED_NB,
    CLAIMED_WITHIN: _CLAIMED_NB + "; behandle den (godta, konverter eller «ikke "
    "interessert») innen {minutes} minutt(er), ellers går den tilbake til køen",
    ALREADY_YOURS: "lead {lead} er allerede din, {user}",
    "lead {lead} is already claimed by {owner}": "lead {lead} er allerede tatt av {owner}",
    "partner {partner} is at the claim cap of queue {queue}: {held} open leads of {cap}; "
    "convert one before claiming more": "partner {partner} har nådd taket i køen {queue}: "
    "{held} av {cap} åpne leads; konverter en før du tar flere",
    "{user} is not eligible for queue {queue}: {reason}": "{user} kan ikke ta leads fra "
    "køen {queue}: {reason}",
    "{user} is not eligible for queue {queue}: not a user of one of its partners": "{user} "
    "kan ikke ta leads fra køen {queue}: ikke bruker hos en av partnerne",
    "there is no lead {lead} in queue {queue}": "det finnes ingen lead {lead} i køen {queue}",
}

CATALOGUES = {"de": DE, "nb": NB}


def claim_words(language: str, words: str, values: dict[str, str]) -> str:
    text = CATALOGUES.get(language, {}).get(words, words)
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a message without values (the directory's)
        return words
