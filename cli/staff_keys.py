"""Each staff member's own signing key: `staff-key make|enrol|new|revoke|list` (an admin
enrols and revokes; see codec.signing). The worker takes a step naming a staff member only
when it is signed with an active key of that person, so `--as X` works only for the holder
of X's key.

Best: the person runs `make` on their own machine (the private half never leaves it) and an
admin `enrol`s the public key it prints. Or an admin's `new` makes the pair: the private
half in a 0600 file for the person (default `~/.config/partnerflow/<user>.key`, never over an
existing file), the public half in the people directory; hand the file over as you would a
password. `revoke` ends every active key of the person at once: a stolen laptop's key acts
no more (steps issued before stay as they were)."""

import argparse
import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cli.common import Commands, emit
from cli.forms import USER
from cli.people import _change, _dsn
from client.failures import OK, SETUP, Failure
from codec.signing import key_id_of, new_key_file, public_bytes
from domain.errors import Refused
from store import staff_keys
from store.db import connect


def default_file(user: str) -> Path:
    return Path.home() / ".config" / "partnerflow" / f"{user}.key"


async def _staff_member(conn, user: str) -> None:
    if await conn.fetchval("SELECT status FROM staff_users WHERE id = $1", user) is None:
        raise Refused(f"{user} is not staff in the people directory (`starter.py staff add`)")


async def cmd_new(args) -> int:
    path = (args.out or default_file(args.user)).expanduser()
    if path.exists():
        raise Failure(SETUP, f"{path} exists: a key file is never overwritten")

    async def write(conn) -> dict:
        await _staff_member(conn, args.user)
        public = new_key_file(path)
        try:
            key_id = await staff_keys.enrol(
                conn, holder=args.user, public=public, enrolled_by=args.actor
            )
        except BaseException:
            path.unlink(missing_ok=True)  # not enrolled: no key to hand over
            raise
        return {
            "message": f"key {key_id} of {args.user} enrolled; its private half is in "
            f"{path} (0600): give it to {args.user} only",
            "key_id": key_id,
            "user": args.user,
            "file": str(path),
        }

    return await _change(args, f"key-new-{args.user}", write)


async def cmd_make(args) -> int:
    """On the person's own machine: the private half never leaves it."""
    path = (args.out or default_file(args.actor)).expanduser()
    if path.exists():
        raise Failure(SETUP, f"{path} exists: a key file is never overwritten")
    public = base64.b64encode(public_bytes(new_key_file(path))).decode()
    emit(
        args,
        True,
        f"your key is in {path} (0600). Give an admin this public key to enrol:\n"
        f"  starter.py staff-key enrol --user {args.actor} --public-key {public}",
        {"file": str(path), "public_key": public, "key_id": key_id_of_text(public)},
    )
    return OK


def key_id_of_text(public: str) -> str:
    return key_id_of(Ed25519PublicKey.from_public_bytes(base64.b64decode(public)))


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "the base64 public key `staff-key make` printed (32 bytes)"
        ) from None


async def cmd_enrol(args) -> int:
    async def write(conn) -> dict:
        await _staff_member(conn, args.user)
        key_id = await staff_keys.enrol(
            conn, holder=args.user, public=args.public_key, enrolled_by=args.actor
        )
        return {"message": f"key {key_id} of {args.user} enrolled", "key_id": key_id}

    return await _change(args, f"key-enrol-{args.user}", write)


async def cmd_revoke(args) -> int:
    async def write(conn) -> dict:
        await _staff_member(conn, args.user)
        revoked = await staff_keys.revoke(conn, holder=args.user, revoked_by=args.actor)
        return {
            "message": f"{len(revoked)} key(s) of {args.user} revoked: steps signed with "
            "them are refused from now on",
            "revoked": revoked,
            "user": args.user,
        }

    return await _change(args, f"key-revoke-{args.user}", write)


async def cmd_list(args) -> int:
    conn = await connect(_dsn())
    try:
        rows = await staff_keys.keys(conn, args.user)
    finally:
        await conn.close()
    text = "\n".join(
        f"{r['key_id']}  {r['kind']:<8} enrolled {r['enrolled_at']:%Y-%m-%d %H:%M} by "
        f"{r['enrolled_by']}"
        + (
            f", revoked {r['revoked_at']:%Y-%m-%d %H:%M} by {r['revoked_by']}"
            if r["revoked_at"]
            else ""
        )
        for r in rows
    )
    emit(args, True, text or f"{args.user} has no key", [{**r} for r in rows])
    return OK


def register(commands: Commands) -> None:
    keys = commands.sub.add_parser(
        "staff-key",
        help="staff members' own signing keys (admins enrol and revoke them)",
        description=__doc__,
    )
    sub = keys.add_subparsers(dest="key_cmd", required=True, metavar="KEY_COMMAND")
    inner = Commands(sub, commands.common)
    c = inner.add("new", "a new key pair for a staff member (admin)", cmd_new, step=True)
    c.add_argument("--user", type=USER, required=True, help="their id, e.g. ops-ben")
    c.add_argument("--out", type=Path, help="the private key's file (default ~/.config/...)")
    c = inner.add(
        "make",
        "a key pair of your own, on your machine: prints the public key for an admin",
        cmd_make,
    )
    c.add_argument("--out", type=Path, help="the private key's file (default ~/.config/...)")
    c = inner.add("enrol", "enrol a staff member's public key (admin)", cmd_enrol, step=True)
    c.add_argument("--user", type=USER, required=True)
    c.add_argument("--public-key", type=_public_key, required=True)
    c = inner.add(
        "revoke", "every active key of a staff member ends now (admin)", cmd_revoke, step=True
    )
    c.add_argument("--user", type=USER, required=True)
    c = inner.add("list", "a staff member's keys, active and revoked", cmd_list)
    c.add_argument("--user", type=USER, required=True)
