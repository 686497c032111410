"""What a page says after a step: the process's answer (a code with values, see
domain.steps.StepAnswer) in the reader's language, with the names of the people and companies
it concerns instead of their ids; and the one-time answer each request hands to the page it
redirects to.

Each answer is a row of its own (portal_answers), named in the redirect (`?answer=<id>`) and
taken once by the user it was made for: two requests of one session (two tabs, a double
submit of two forms) each show their own answer, never each other's and never twice. One
slot in the session would not do that: both requests read the same cookie, and the one
written last wins."""

import secrets
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi.responses import RedirectResponse

from portal.deps import NO_ANSWER_IN_TIME, PortalUser
from portal.i18n import Words
from portal.steps import Outcome

KEEP = timedelta(hours=1)  # an answer nobody came to read is of no use after this

# Per code, the answer in each language; the values are the process's params, with names.
ANSWERS: dict[str, dict[str, str]] = {
    "order.confirmed": {
        "en": "order {order} for {account} is confirmed and applied.",
        "de": "Bestellung {order} für {account} ist bestätigt und ausgeführt.",
        "nb": "bestilling {order} for {account} er bekreftet og utført.",
    },
    "order.declined": {
        "en": "order {order} for {account} is declined; our staff are told.",
        "de": "Bestellung {order} für {account} ist abgelehnt; unser Team ist informiert.",
        "nb": "bestilling {order} for {account} er avslått; våre medarbeidere er varslet.",
    },
    "document.uploaded": {
        "en": "{kind} {file} is uploaded.",
        "de": "{kind} {file} ist hochgeladen.",
        "nb": "{kind} {file} er lastet opp.",
    },
    "document.already_uploaded": {
        "en": "{file} is already the current {kind}.",
        "de": "{file} ist bereits die aktuelle Unterlage ({kind}).",
        "nb": "{file} er allerede gjeldende dokument ({kind}).",
    },
    "lead.converted": {
        "en": "{company} is now an opportunity ({stage}): keep it up to date under My "
        "opportunities.",
        "de": "{company} ist jetzt eine Verkaufschance ({stage}): Halten Sie sie unter "
        "„Meine Verkaufschancen“ aktuell.",
        "nb": "{company} er nå en salgsmulighet ({stage}): hold den oppdatert under Mine "
        "salgsmuligheter.",
    },
    "lead.already_converted": {
        "en": "{company} is already an opportunity.",
        "de": "{company} ist bereits eine Verkaufschance.",
        "nb": "{company} er allerede en salgsmulighet.",
    },
    "opportunity.updated": {
        "en": "opportunity {company} updated: {changes}.",
        "de": "Verkaufschance {company} aktualisiert: {changes}.",
        "nb": "salgsmulighet {company} oppdatert: {changes}.",
    },
}
KIND_WORDS = {"loa": "LOA", "last-invoice": "last invoice"}

# Per code, a refusal in each language (workflows.process.refusal's code and params).
REFUSALS: dict[str, dict[str, str]] = {
    "order.not_waiting": {
        "en": "the order for {account} no longer waits for your confirmation ({stage}).",
        "de": "Die Bestellung für {account} wartet nicht mehr auf Ihre Bestätigung ({stage}).",
        "nb": "bestillingen for {account} venter ikke lenger på din bekreftelse ({stage}).",
    },
    "order.confirmed_already": {
        "en": "the order for {account} is confirmed already: it can no longer be declined.",
        "de": "Die Bestellung für {account} ist bereits bestätigt und kann nicht mehr "
        "abgelehnt werden.",
        "nb": "bestillingen for {account} er allerede bekreftet og kan ikke lenger avslås.",
    },
    "order.documents_missing": {
        "en": "the order for {account} can be confirmed once {missing} are uploaded "
        "(on the documents page).",
        "de": "Die Bestellung für {account} kann bestätigt werden, sobald {missing} "
        "hochgeladen sind (Seite Unterlagen).",
        "nb": "bestillingen for {account} kan bekreftes når {missing} er lastet opp "
        "(siden Dokumenter).",
    },
    "documents.closed": {
        "en": "the documents of this order can no longer change.",
        "de": "Die Unterlagen dieser Bestellung können nicht mehr geändert werden.",
        "nb": "dokumentene til denne bestillingen kan ikke lenger endres.",
    },
}
# The stages an order ends in, as a refusal names them.
ORDER_STAGES: dict[str, dict[str, str]] = {
    "applied": {"de": "ausgeführt", "nb": "utført"},
    "applying": {"de": "wird ausgeführt", "nb": "utføres"},
    "cancelled": {"de": "storniert", "nb": "kansellert"},
    "expired": {"de": "abgelaufen", "nb": "utløpt"},
    "declined": {"de": "abgelehnt", "nb": "avslått"},
    "refused": {"de": "abgewiesen", "nb": "avvist"},
}


def say(words: Words, code: str, params: dict[str, Any], names: dict[str, str]) -> str | None:
    """The answer of `code` in the reader's words, or None for a code without them."""
    texts = ANSWERS.get(code)
    if texts is None:
        return None
    values: dict[str, Any] = {**params, **names}
    if "stage" in values:
        values["stage"] = words(str(values["stage"]))
    if "kind" in values:
        values["kind"] = words(KIND_WORDS.get(str(values["kind"]), str(values["kind"])))
    # a company or account without a name known here is named by its id, never left blank
    values.setdefault("company", params.get("lead") or params.get("opportunity", ""))
    values.setdefault("account", "")
    values["changes"] = _changes(words, params)
    return texts.get(words.language, texts["en"]).format(**values)


def _changes(words: Words, params: dict[str, Any]) -> str:
    said = []
    if params.get("stage"):
        said.append(f"{words('Stage')} {words(str(params['stage']))}")
    if params.get("amount"):
        try:
            said.append(f"{words('Amount')} {words.amount(Decimal(str(params['amount'])))} EUR")
        except InvalidOperation:
            pass
    if params.get("close_date"):
        try:
            said.append(
                f"{words('Close date')} {words.date(date.fromisoformat(str(params['close_date'])))}"
            )
        except ValueError:
            pass
    return ", ".join(said)


def text_of(words: Words, result: Outcome, names: dict[str, str]) -> tuple[str, str]:
    """(kind, text) of a step's outcome, as the next page shows it."""
    if result.unknown:
        return "error", words(NO_ANSWER_IN_TIME)
    if result.ok:
        said = say(words, result.code, result.params, names) or result.message
        return "ok", words("Done: {message}", message=said)
    if result.own:  # the portal's own words (an ended process, a queue gone)
        return "error", words(result.message, **result.params)
    if result.code in REFUSALS:
        texts = REFUSALS[result.code]
        stage = str(result.params.get("stage", ""))
        values = {
            "account": "",
            **result.params,
            **names,
            "stage": ORDER_STAGES.get(stage, {}).get(words.language, stage),
            "missing": ", ".join(
                words(KIND_WORDS.get(kind, kind))
                for kind in str(result.params.get("missing", "")).split(",")
                if kind
            ),
        }
        said = texts.get(words.language, texts["en"]).format(**values)
        return "error", words("Refused: {message}", message=said)
    return "error", words("The order system refused this step: {reason}", reason=result.message)


async def answered(
    request: Any, pool: Any, user: PortalUser, path: str, result: Outcome, **names: str
) -> RedirectResponse:
    """303 to `path`, which shows this request's answer once."""
    kind, text = text_of(Words(user.language), result, names)
    return await redirect_with(pool, user, path, kind, text)


async def redirect_with(
    pool: Any, user: PortalUser, path: str, kind: str, text: str
) -> RedirectResponse:
    answer_id = secrets.token_urlsafe(12)
    async with pool.acquire() as conn:
        # one round trip: the answers nobody came to read go as this one is written
        await conn.execute(
            "WITH gone AS (DELETE FROM portal_answers WHERE created_at < now() - $5::interval)"
            " INSERT INTO portal_answers (id, user_id, kind, text) VALUES ($1, $2, $3, $4)",
            answer_id,
            user.id,
            kind,
            text,
            KEEP,
        )
    return RedirectResponse(f"{path}?answer={answer_id}", status_code=303)


async def taken(conn: Any, user: PortalUser, answer_id: str | None) -> list[tuple[str, str]]:
    """The answer named in the page's address, once, and only for the user it was made for."""
    if not answer_id:
        return []
    row = await conn.fetchrow(
        "DELETE FROM portal_answers WHERE id = $1 AND user_id = $2 RETURNING kind, text",
        answer_id[:64],
        user.id,
    )
    return [(row["kind"], row["text"])] if row else []
