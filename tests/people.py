"""The people the tests written before the people directory act as. Each is active staff
with every role, so those tests keep testing what they test; the permission tests use the
demo directory (store/demo.py STAFF, the partners' users) instead, where roles matter."""

from domain.permissions import Role

# every name the older tests send as `actor`, `requested_by` or `--as` (grep tests/ for them)
TEST_STAFF = [
    "staff",
    "anna",
    "reseller-anna",
    "reseller-bo",
    "reseller",
    "cm",
    "s",
    "t",
    "x",
    "p",
    "staff-porting",
    "staff-lea",
    "staff-e2e",
    "partner-user",
    "partner",
    "kari",
    "tests",
    "test",
    "ola.kundesenter",
    "lead-carla",
    "ops-ben",
    "cm-eva",
    "bench",
    "bench-staff",
    "cm-bench",
    "other",
    "ben",
    "kari.kundesenter",
    "cm-bo",
    "ops-anna",
    "partner-anna",
    "partner-bo",
    "partner-cy",
    "partner-dee",
    "partner-di",
    "cm-test",
]


async def add_test_staff(conn, names: list[str] = TEST_STAFF) -> None:
    await conn.executemany(
        "INSERT INTO staff_users (id, name, email, created_by) VALUES ($1, $1, $2, 'tests')"
        " ON CONFLICT DO NOTHING",
        [(n, f"{n}@tests.example") for n in names],
    )
    await conn.executemany(
        "INSERT INTO staff_roles (user_id, role, granted_by) VALUES ($1, $2, 'tests')"
        " ON CONFLICT DO NOTHING",
        [(n, r.value) for n in names for r in Role],
    )
