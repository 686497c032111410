"""The people directory: staff users and their roles, partner users (partner_users),
customer signers (contacts with signing authority); the security log of refused steps; and the
permission check both the workflow (activities/people.py) and the store (store/steps.py once())
make."""

from datetime import datetime
from typing import Any

import structlog

from domain.errors import Refused
from domain.permissions import PARTNER_STATES, Facts, Person, Role, decide

log = structlog.get_logger("partnerflow.security")

Conn = Any


async def person(conn: Conn, actor: str) -> Person | None:
    """Everything the directory knows of `actor`, in one round trip; None: nobody."""
    return person_of(actor, await conn.fetchrow("SELECT * FROM directory_person($1)", actor))


def person_of(actor: str, row: Any) -> Person | None:
    """The directory's row for `actor` (migration 023's directory_person), as a Person."""
    p = Person(
        id=actor,
        staff_status=row["staff_status"],
        roles=list(row["roles"]) if row["staff_status"] else [],
        partner_id=row["partner_id"],
        partner_status=PARTNER_STATES.get(row["partner_status"] or "", None),
        signer_for=list(row["signer_for"]),
    )
    return p if p.known else None


async def lead_facts(conn: Conn, facts: Facts) -> Facts:
    """A lead step's facts from PostgreSQL: the queue's partners, the lead's current owner
    (or the opportunity's)."""
    queue_id, lead_id, opportunity_id = facts.queue_id, facts.lead_id, facts.opportunity_id
    if queue_id and not facts.partner_ids:
        partners = await conn.fetchval(
            "SELECT coalesce(array_agg(partner_id), '{}') FROM lead_queue_partners"
            " WHERE queue_id = $1",
            queue_id,
        )
        facts = facts.model_copy(update={"partner_ids": list(partners)})
    if lead_id and facts.owner is None:
        owner = await conn.fetchval(
            "SELECT user_id FROM claims WHERE lead_id = $1 AND ended_at IS NULL", lead_id
        )
        facts = facts.model_copy(update={"owner": owner})
    if opportunity_id and facts.owner is None:
        owner = await conn.fetchval(
            "SELECT owner_user_id FROM opportunities WHERE id = $1", opportunity_id
        )
        facts = facts.model_copy(update={"owner": owner})
    return facts


async def allowed(conn: Conn, *, permission: str, actor: str, facts: Facts) -> str | None:
    """The reason `actor` may not do `permission` on a process with these facts; None: may."""
    if facts.queue_id:
        facts = await lead_facts(conn, facts)
    return decide(permission, actor, await person(conn, actor), facts)


async def check(
    conn: Conn, *, permission: str, actor: str, process_id: str, facts: Facts, checked_in: str
) -> str | None:
    """As `allowed`, and a refusal is written to the security log (on `conn`: the caller
    keeps it out of a transaction it rolls back)."""
    reason = await allowed(conn, permission=permission, actor=actor, facts=facts)
    if reason is not None:
        await record_refusal(
            conn,
            actor=actor,
            permission=permission,
            process_id=process_id,
            reason=reason,
            checked_in=checked_in,
        )
    return reason


async def record_refusal(
    conn: Conn,
    *,
    actor: str,
    permission: str,
    process_id: str,
    reason: str,
    checked_in: str,
    quiet: bool = False,
    key: str | None = None,
) -> None:
    """`quiet`: the caller tells the person itself (the starter prints the refusal). `key`:
    the same refusal reported again (a replayed history) adds no second row."""
    await conn.execute(
        "INSERT INTO security_log (actor, permission, process_id, reason, checked_in,"
        " refusal_key) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (refusal_key) WHERE refusal_key IS NOT NULL DO NOTHING",
        actor,
        permission,
        process_id,
        reason,
        checked_in,
        key,
    )
    if not quiet:
        log.warning(
            "step refused",
            actor=actor,
            permission=permission,
            process_id=process_id,
            reason=reason,
            checked_in=checked_in,
        )


async def security_log(conn: Conn, since: datetime | None = None, limit: int = 100) -> list:
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT id, at, actor, permission, process_id, reason, checked_in FROM security_log"
            " WHERE $1::timestamptz IS NULL OR at >= $1 ORDER BY id DESC LIMIT $2",
            since,
            limit,
        )
    ]


async def require_channel_managers(conn: Conn, user_ids: list[str]) -> None:
    """Who a partner account or lead queue names as its channel manager(s) must be one:
    nobody makes themself (or a partner user) channel manager by typing a name."""
    not_ones = []
    for user_id in user_ids:
        p = await person(conn, user_id)
        if p is None or not p.active_staff or Role.CHANNEL_MANAGER not in p.roles:
            not_ones.append(user_id)
    if not_ones:
        raise Refused(
            f"{', '.join(not_ones)}: not an active channel manager in the people "
            "directory (an admin grants the role: `starter.py staff grant`)"
        )


# --- staff management (admin only; each change one audited step) ---------------------------

ADMIN_ONLY = "only an active admin manages staff"


async def require_admin(conn: Conn, actor: str, what: str) -> None:
    """Checked inside the change's transaction (the caller logs a refusal outside it)."""
    p = await person(conn, actor)
    if p is None or not p.active_staff or Role.ADMIN not in p.roles:
        raise Refused(
            f"{ADMIN_ONLY}; {actor} is "
            + (
                "not in the people directory"
                if p is None
                else "deactivated"
                if p.staff_status == "deactivated"
                else f"not an admin ({', '.join(p.roles) or 'no staff role'})"
            )
        )


def _roles(roles: list[str]) -> list[str]:
    known = {r.value for r in Role}
    bad = [r for r in roles if r not in known]
    if bad:
        raise Refused(f"unknown role {', '.join(bad)}; roles: {', '.join(sorted(known))}")
    return list(dict.fromkeys(roles))


async def add_staff(
    conn: Conn, actor: str, user_id: str, name: str, email: str, roles: list[str]
) -> dict:
    roles = _roles(roles)
    if await conn.fetchval("SELECT 1 FROM staff_users WHERE id = $1", user_id):
        raise Refused(f"{user_id} is already staff; `staff grant` adds a role")
    if await conn.fetchval("SELECT 1 FROM partner_users WHERE id = $1", user_id):
        raise Refused(f"{user_id} is a partner user; a staff member needs an id of their own")
    await conn.execute(
        "INSERT INTO staff_users (id, name, email, created_by) VALUES ($1, $2, $3, $4)",
        user_id,
        name,
        email,
        actor,
    )
    await conn.executemany(
        "INSERT INTO staff_roles (user_id, role, granted_by) VALUES ($1, $2, $3)",
        [(user_id, r, actor) for r in roles],
    )
    return {"message": f"{user_id} ({name}) added as staff with {', '.join(roles) or 'no role'}"}


async def _staff(conn: Conn, user_id: str) -> Any:
    row = await conn.fetchrow("SELECT * FROM staff_users WHERE id = $1 FOR UPDATE", user_id)
    if row is None:
        raise Refused(f"{user_id} is not staff (`starter.py staff list` shows who is)")
    return row


async def grant(conn: Conn, actor: str, user_id: str, roles: list[str]) -> dict:
    roles = _roles(roles)
    if (await _staff(conn, user_id))["status"] != "active":
        raise Refused(f"{user_id} is deactivated: a deactivated member gets no roles")
    await conn.executemany(
        "INSERT INTO staff_roles (user_id, role, granted_by) VALUES"
        " ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(user_id, r, actor) for r in roles],
    )
    return {"message": f"{user_id} has {', '.join(await _role_list(conn, user_id))}"}


async def revoke(conn: Conn, actor: str, user_id: str, roles: list[str]) -> dict:
    roles = _roles(roles)
    await _staff(conn, user_id)
    if user_id == actor and Role.ADMIN in roles:
        raise Refused("an admin does not revoke their own admin role (another admin does)")
    await conn.execute(
        "DELETE FROM staff_roles WHERE user_id = $1 AND role = ANY($2)", user_id, roles
    )
    left = await _role_list(conn, user_id)
    return {"message": f"{user_id} has {', '.join(left) or 'no role'}"}


async def deactivate(conn: Conn, actor: str, user_id: str) -> dict:
    row = await _staff(conn, user_id)
    if user_id == actor:
        raise Refused("an admin does not deactivate themself (another admin does)")
    if row["status"] == "deactivated":
        return {"message": f"{user_id} is already deactivated"}
    await conn.execute(
        "UPDATE staff_users SET status = 'deactivated', deactivated_at = now() WHERE id = $1",
        user_id,
    )
    return {"message": f"{user_id} is deactivated: every step they send is refused"}


async def _role_list(conn: Conn, user_id: str) -> list[str]:
    return list(
        await conn.fetchval(
            "SELECT coalesce(array_agg(role ORDER BY role), '{}') FROM staff_roles"
            " WHERE user_id = $1",
            user_id,
        )
    )


async def list_staff(conn: Conn) -> list[dict]:
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT s.id, s.name, s.email, s.status,"
            " coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}')"
            " AS roles FROM staff_users s LEFT JOIN staff_roles r ON r.user_id = s.id"
            " GROUP BY s.id ORDER BY s.id"
        )
    ]


async def first_admin(conn: Conn, user_id: str, name: str, email: str) -> str:
    """The directory's first admin, made by whoever runs the database (bootstrap); refused
    once an active admin exists (they add staff with `starter.py staff add`)."""
    from domain import ids

    if not ids.USER.matches(user_id):
        return f"refused: {ids.expected(ids.USER)}"
    async with conn.transaction():
        await conn.execute("LOCK TABLE staff_roles IN SHARE ROW EXCLUSIVE MODE")
        admins = await conn.fetch(
            "SELECT r.user_id FROM staff_roles r JOIN staff_users s ON s.id = r.user_id"
            " WHERE r.role = 'admin' AND s.status = 'active'"
        )
        if admins:
            return (
                f"refused: the directory has an admin ({', '.join(a[0] for a in admins)});"
                " they add staff with `starter.py staff add`"
            )
        await conn.execute(
            "INSERT INTO staff_users (id, name, email, created_by) VALUES ($1, $2, $3,"
            " 'first-admin') ON CONFLICT (id) DO UPDATE SET status = 'active'",
            user_id,
            name,
            email,
        )
        await conn.execute(
            "INSERT INTO staff_roles (user_id, role, granted_by) VALUES"
            " ($1, 'admin', 'first-admin') ON CONFLICT DO NOTHING",
            user_id,
        )
        await conn.execute(
            "INSERT INTO audit_log (process_id, run, step, actor, action, detail, result)"
            " VALUES ('people-directory', '', $1, 'first-admin', 'staff first admin', $2, $2)",
            f"first-admin-{user_id}",
            {"message": f"{user_id} is the first admin"},
        )
    return f"{user_id} ({name}) is the first admin: `starter.py staff add --as {user_id} ...`"
