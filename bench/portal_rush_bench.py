"""The rush after a trade fair, through the partner portal: partner users claiming at once,
pages under load, and a partner's confirm at half its capacity.

    .venv/bin/python bench/portal_rush_bench.py [--leads 100000] [--partners 20] [--users 10]
        [--claims-per-user 5] [--rate 300] [--answer-page] [--hot 3000] [--cap 40]
        [--orders 10000] [--browsers 50]
        [--page-rounds 10] [--pages /leads,/my-leads,/opportunities,/orders,/documents]
        [--think 1.0] [--confirms 40] [--portals 1] [--quick]

One run starts what it needs: PostgreSQL (DATABASE_URL -> a fresh database, else an embedded
pgserver), the Temporal dev server, one worker in this process (worker.build_worker), and the
portal as a process of its own (`python -m portal`, as deployed: one process). Then:

1. Partners x users, each with a password; one lead queue (LeadQueueRouter) with all partners
   and --leads leads imported as the starter does; --orders orders in PostgreSQL (applied
   ones: the history a partner's pages read past), and --confirms fast change orders of one
   partner waiting for its confirmation (real processes).
2. Every user logs in over HTTP (its own cookie jar, its session's CSRF token, a connection
   kept open as a browser keeps it). The rush: every user clicks at the same moment, then
   the clicks go on at --rate a second, each user's in turn, until each user has clicked
   --claims-per-user times (an open loop: a user's next click does not wait for the answers
   of others); --rate 0: each user clicks again the moment its answer comes (a closed loop,
   the portal's capacity). Claims go to random leads among the --hot oldest (so that they
   collide). Click -> answer: the POST of the inbox's form until the portal's answer (303 to
   "my leads" naming the click's answer); with --answer-page also until that page is loaded,
   as a browser follows the redirect. Each answer's words are checked on its page, in the
   user's language. The CPU each part used during the rush is printed (from /proc).
3. Pages: --browsers users read each page of --pages --page-rounds times, all at once: first
   with no pause between a user's pages (the saturation figure: how many pages a second the
   portal serves flat out), then as people browse, each reading a page for about --think
   seconds (0.5-1.5 times it, at random) before the next click (the figure the target is for:
   50 people browsing do not click 50 times at once without reading).
4. Confirm: the partner's confirms through the portal, 20 in flight (its capacity), then as
   many again sent evenly at half that rate (an open loop: people do not wait for each other).

PostgreSQL is checked afterwards: exactly one owner per lead, no partner over its cap, every
claim's audit row, every order confirmed once. Every figure is printed with the box's load
average; the last line is one JSON object."""

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

import worker  # noqa: E402
from bench.common import (  # noqa: E402
    Postgres,
    import_leads,
    load_average,
    migrate_with_staff,
    progress,
    run,
    say,
    start_dev_server,
)
from domain.change_order import FastChangeRequest  # noqa: E402
from domain.leads import RouterRequest, queue_process_id  # noqa: E402
from domain.order_lines import FastChangeLine  # noqa: E402
from domain.partners import hash_password  # noqa: E402
from store.db import create_pool  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import load_catalogue, new_account  # noqa: E402
from tests.records_partners import enable_partner_management, lead_rows, new_partner  # noqa: E402
from tests.workflows.harness import start_process  # noqa: E402
from workflows.fast_change_order import FastChangeOrder  # noqa: E402
from workflows.lead_queue_router import LeadQueueRouter  # noqa: E402

PASSWORD = "Fjord-Lynx-2026!"
PAGES = "/leads,/my-leads,/opportunities,/orders,/documents"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# words of a claim's English answers: none of them in a German page's answer
ENGLISH_ANSWERS = ("is yours", "already claimed", "claim cap", "not eligible", "no lead")
FLASH = re.compile(r"(Done|Erledigt|Refused|Abgelehnt): ([^<]*)")


def cpu_seconds(portal_pids: set[int]) -> dict[str, float]:
    """CPU time used so far by the portal, PostgreSQL, the Temporal server, this process (the
    worker and the 200 users' HTTP clients) and the rest, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: Counter = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        if pid in portal_pids:
            who = "portal"
        elif pid == os.getpid():
            who = "bench"
        elif name.startswith("postgres"):
            who = "postgresql"
        elif name.startswith("temporal"):
            who = "temporal"
        else:
            who = "other"
        used[who] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return dict(used)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str
    headers: Mapping[str, str]


class User:
    """One partner user's browser: its own connection, cookie jar (its session) and CSRF token.
    aiohttp rather than httpx: the 200 users run in this process on the same two cores as the
    portal and PostgreSQL, and httpx spent about as much CPU a click as the portal did."""

    def __init__(self, user_id: str, partner_id: str, language: str, url: str, n: int) -> None:
        self.id, self.partner_id, self.language = user_id, partner_id, language
        self.url = url
        # each user from an address of its own (127.0.x.y), as from a machine of its own:
        # the portal limits login attempts per address
        self.address = f"127.0.{1 + n // 250}.{1 + n % 250}"
        self.http: aiohttp.ClientSession | None = None
        self.csrf = ""

    def session(self) -> aiohttp.ClientSession:
        if self.http is None:
            self.http = aiohttp.ClientSession(
                base_url=self.url,
                headers={"Accept-Language": "en"},
                cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies of an address, not a name
                timeout=aiohttp.ClientTimeout(total=60),
                # a browser keeps its connection to a page it just loaded; below the
                # portal's keep-alive (75 s), so that no request goes on a connection the
                # portal is closing (the bench's error, not the portal's)
                connector=aiohttp.TCPConnector(
                    local_addr=(self.address, 0), keepalive_timeout=60.0, limit=1
                ),
            )
        return self.http

    async def get(self, path: str) -> Answer:
        async with self.session().get(path, allow_redirects=False) as r:
            return Answer(r.status, await r.text(), r.headers)

    async def post(self, path: str, data: dict[str, str]) -> Answer:
        async with self.session().post(path, data=data, allow_redirects=False) as r:
            return Answer(r.status, await r.text(), r.headers)

    async def page(self, path: str, errors: Counter, what: str) -> Answer | None:
        """A page, or None with its error counted under `what`."""
        try:
            r = await self.get(path)
        except (aiohttp.ClientError, TimeoutError) as e:
            errors[f"{what} {type(e).__name__}"] += 1
            return None
        if r.status_code != 200:
            errors[f"{what} HTTP {r.status_code}"] += 1
            return None
        return r

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def log_in(self) -> None:
        page = await self.get("/login")
        done = await self.post(
            "/login", data={"user": self.id, "password": PASSWORD, "csrf": csrf_of(page.text)}
        )
        if done.status_code != 303:
            raise RuntimeError(f"{self.id}: login answered {done.status_code}")
        self.csrf = csrf_of((await self.get("/leads")).text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    if not found:
        raise RuntimeError("no CSRF field on the page")
    return found.group(1)


async def start_portal(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as c:
        for _ in range(600):
            try:
                async with c.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"the portal ended with {proc.returncode}")
            await asyncio.sleep(0.1)  # waiting for a process to listen
    raise RuntimeError("the portal did not answer /healthz")


async def add_orders(pool, partners: list, n: int) -> None:
    """`n` applied orders of the partners' accounts: the history their pages read past."""
    if not n:
        return
    accounts = []
    for p in partners:
        a = await new_account(pool, licences={"Premium": 2})
        await pool.execute("UPDATE accounts SET partner_id = $2 WHERE id = $1", a.id, p.id)
        accounts.append((a, p.id))
    rows = []
    for i in range(n):
        a, partner_id = accounts[i % len(accounts)]
        rows.append(
            (f"O-B{i}", f"bench-order-{i}", "fast_change", a.id, a.pbx_id, partner_id, "applied")
        )
    await pool.copy_records_to_table(
        "orders",
        records=rows,
        columns=["id", "process_id", "kind", "account_id", "pbx_id", "partner_id", "status"],
    )


async def bench(args: argparse.Namespace) -> int:
    logs.configure("WARNING")
    pg, env, pool = Postgres(), None, None
    portals: list[subprocess.Popen] = []
    users: list[User] = []
    tmp = Path(tempfile.mkdtemp(prefix="partnerflow-rush-"))
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = str(tmp / "documents")
    out: dict = {"cpus": os.cpu_count(), "quick": args.quick, "portals": args.portals}
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)
        pool = await create_pool(dsn, max_size=10)
        async with pool.acquire() as conn:
            await load_catalogue(conn)
        env = await start_dev_server()
        address = env.client.service_client.config.target_host
        await enable_partner_management(pool)
        partners = [await new_partner(pool, users=args.users) for _ in range(args.partners)]
        for i, p in enumerate(partners):  # half read German, half English
            await pool.execute(
                "UPDATE partners SET language = $2 WHERE id = $1", p.id, "de" if i % 2 else "en"
            )
        await pool.execute("UPDATE partner_users SET password_hash = $1", hash_password(PASSWORD))
        task_queue = f"rush-{uuid.uuid4().hex[:8]}"
        queue_id = f"fair-{uuid.uuid4().hex[:6]}"
        async with worker.build_worker(env.client, pool, task_queue=task_queue):
            handle, _ = await start_process(
                env.client,
                task_queue,
                LeadQueueRouter,
                RouterRequest(
                    queue_id=queue_id,
                    name="Trade fair",
                    channel_managers=["cm-bench"],
                    partners=[p.id for p in partners],
                    claim_cap=args.cap,
                    requested_by="cm-bench",
                ),
                process_id=queue_process_id(queue_id),
            )
            progress(f"importing {args.leads} leads ...")
            documents = tmp / "documents"
            await import_leads(handle, queue_id, lead_rows(args.leads), documents)
            progress(f"{args.orders} orders, {args.confirms} waiting for confirmation ...")
            await add_orders(pool, partners, args.orders)
            confirm_ids = await waiting_orders(env.client, task_queue, pool, partners[0], args)

            ports = [free_port() for _ in range(args.portals)]
            port = ports[0]
            portal_env = {
                **os.environ,
                "DATABASE_URL": dsn,
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_NAMESPACE": "default",
                "PARTNERFLOW_TASK_QUEUE": task_queue,
                "PARTNERFLOW_ALLOW_PLAINTEXT": "1",
                "PARTNERFLOW_DATA_DIR": str(tmp),
                "PARTNERFLOW_PORTAL_SECRET": secrets.token_hex(32),
                "PARTNERFLOW_PORTAL_PORT": str(port),
                "PARTNERFLOW_PORTAL_HOST": "127.0.0.1",
                "PARTNERFLOW_PORTAL_SECURE_COOKIES": "0",
                "LOG_LEVEL": "WARNING",
            }
            progress(f"starting {args.portals} portal process(es) ...")
            for p in ports:  # as behind a load balancer: each user keeps to one
                portals.append(
                    await start_portal({**portal_env, "PARTNERFLOW_PORTAL_PORT": str(p)}, p)
                )
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            languages = {p.id: ("de" if i % 2 else "en") for i, p in enumerate(partners)}
            users = [
                User(u, p.id, languages[p.id], urls[n % len(urls)], n)
                for n, (p, u) in enumerate((p, u) for p in partners for u in p.users)
            ]
            gate = asyncio.Semaphore(8)

            async def log_in(u: User) -> None:
                async with gate:
                    await u.log_in()

            progress(f"{len(users)} users log in ...")
            await asyncio.gather(*(log_in(u) for u in users))

            out["rush"] = await rush(pool, users, queue_id, args, {p.pid for p in portals})
            out["pages_saturation"] = await pages(users[: args.browsers], args, think=0.0)
            out["pages"] = (
                await pages(users[: args.browsers], args, think=args.think)
                if args.think
                else out["pages_saturation"]
            )
            out["confirm"] = await confirms(pool, users_of(users, partners[0].id), confirm_ids)
        figures = summary(out)
        say(json.dumps(figures))
        ok = (
            figures["errors"] == 0
            and figures["one_owner_per_lead"]
            and figures["caps_respected"]
            and figures["every_claim_audited"]
            and figures["answers_in_their_language"]
        )
        return 0 if ok else 1
    finally:
        for u in users:
            await u.close()
        for portal in portals:
            portal.terminate()
            portal.wait(10)
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def users_of(users: list[User], partner_id: str) -> list[User]:
    return [u for u in users if u.partner_id == partner_id]


async def waiting_orders(client, task_queue: str, pool, partner, args) -> list[str]:
    """Fast change orders of `partner`'s accounts, waiting for its confirmation."""
    ids: list[str] = []
    for _ in range(args.confirms):
        a = await new_account(pool, licences={"Premium": 5})
        await pool.execute("UPDATE accounts SET partner_id = $2 WHERE id = $1", a.id, partner.id)
        request = FastChangeRequest(
            account_id=a.id,
            pbx_id=a.pbx_id,
            lines=[FastChangeLine(sku="Premium", quantity=7)],
            requested_by="bench-staff",
        )
        process_id = f"fast-change-order-{a.id}-{uuid.uuid4().hex[:8]}"
        _, answer = await start_process(client, task_queue, FastChangeOrder, request, process_id)
        if isinstance(answer, Exception):
            raise answer
        ids.append(process_id)
    return ids


async def rush(pool, users: list[User], queue_id: str, args, portal_pids: set[int]) -> dict:
    hot = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM leads WHERE queue_id = $1 AND status = 'queued'"
            " ORDER BY created_at, id LIMIT $2",
            queue_id,
            args.hot,
        )
    ]
    latencies: list[float] = []  # click -> the portal's answer (the POST's redirect)
    to_page: list[float] = []  # click -> the answer's page loaded, as the browser follows it
    errors: Counter = Counter()
    seen: list[tuple[User, str]] = []  # each click's answer page
    later: list[tuple[User, str]] = []  # --no-answer-page: the pages to read after the rush
    start = asyncio.Event()

    async def click(u: User) -> None:
        lead = random.choice(hot)
        t0 = time.perf_counter()
        try:
            r = await u.post(
                f"/leads/{lead}/claim", data={"csrf": u.csrf, "request": uuid.uuid4().hex[:16]}
            )
            if r.status_code != 303:
                errors[f"HTTP {r.status_code}"] += 1
                return
        except (aiohttp.ClientError, TimeoutError) as e:
            errors[f"{type(e).__name__}"] += 1
            return
        answered = time.perf_counter() - t0
        if not args.answer_page:  # the answer's page read after the rush, outside the clock
            later.append((u, r.headers["location"]))
            latencies.append(answered)
            return
        page = await u.page(r.headers["location"], errors, "answer page")
        if page is None:
            return
        latencies.append(answered)
        to_page.append(time.perf_counter() - t0)
        seen.append((u, page.text))

    async def one_after_the_other(u: User) -> None:
        await start.wait()
        for _ in range(args.claims_per_user):
            await click(u)

    clicks_total = len(users) * args.claims_per_user
    how = f"all at once, then {args.rate} clicks/s" if args.rate else "each again at its answer"
    progress(
        f"the rush: {len(users)} users x {args.claims_per_user} claims on {len(hot)} leads ({how})"
    )
    load_before = load_average()
    cpu_before = cpu_seconds(portal_pids)
    began = time.perf_counter()
    if args.rate:
        # every user clicks at the same moment; then the clicks come at the rate, each user's
        # in turn, whether or not the answers before have come (people do not wait for others)
        tasks = [asyncio.create_task(click(u)) for u in users]
        for i in range(len(users), clicks_total):
            delay = began + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the open loop's schedule
            tasks.append(asyncio.create_task(click(users[i % len(users)])))
        await asyncio.gather(*tasks)
    else:
        tasks = [asyncio.create_task(one_after_the_other(u)) for u in users]
        start.set()
        await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    cpu_after = cpu_seconds(portal_pids)
    load_after = load_average()
    cpu = {k: round(cpu_after.get(k, 0) - cpu_before.get(k, 0), 2) for k in cpu_after}
    for u, location in later:
        seen.append((u, (await u.get(location)).text))
    # each click's answer, as its user read it on the page the redirect named, in its language
    said: Counter = Counter()
    wrong_language = 0
    for u, page in seen:
        for verdict, text in FLASH.findall(page):
            said[verdict] += 1
            german = verdict in ("Erledigt", "Abgelehnt")
            english_words = any(w in text for w in ENGLISH_ANSWERS)
            if german != (u.language == "de") or (german and english_words):
                wrong_language += 1
    current = await pool.fetch(
        "SELECT c.lead_id, c.partner_id, a.id AS audit FROM claims c LEFT JOIN audit_log a"
        " ON a.process_id = c.process_id AND a.step = c.step"
        " WHERE c.queue_id = $1 AND c.ended_at IS NULL",
        queue_id,
    )
    per_partner = Counter(r["partner_id"] for r in current)
    result = {
        "clicks": clicks_total,
        "seconds": round(seconds, 2),
        "claims_per_s": round(clicks_total / seconds, 1),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "to_page_p50_ms": pct(to_page, 50),
        "to_page_p99_ms": pct(to_page, 99),
        "rate": args.rate or "closed loop",
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "claimed": len(current),
        "answers_shown": dict(said),
        "answers_in_their_language": wrong_language == 0 and sum(said.values()) == clicks_total,
        "one_owner_per_lead": len(current) == len({r["lead_id"] for r in current}),
        "caps_respected": all(n <= args.cap for n in per_partner.values()),
        "every_claim_audited": all(r["audit"] is not None for r in current),
        "cpu_s": cpu,
        "portal_cpu_ms_per_click": round(1000 * cpu.get("portal", 0) / clicks_total, 2),
        "load_average_before": load_before,
        "load_average": load_after,
    }
    say(
        f"rush CPU over {seconds:.1f} s on {os.cpu_count()} cores: {cpu}; the portal"
        f" {result['portal_cpu_ms_per_click']} ms a click"
    )
    say(
        f"rush ({how}): {clicks_total} clicks by {len(users)} users in {seconds:.1f} s ->"
        f" {result['claims_per_s']} claims/s; click -> answer p50 {result['p50_ms']} ms,"
        f" p99 {result['p99_ms']} ms; to the answer's page p50 {result['to_page_p50_ms']} ms,"
        f" p99 {result['to_page_p99_ms']} ms; errors {result['errors']};"
        f" {len(current)} leads claimed;"
        f" one owner per lead {result['one_owner_per_lead']}, caps {result['caps_respected']},"
        f" audited {result['every_claim_audited']}, answers {dict(said)} in their language"
        f" {result['answers_in_their_language']} (load average {load_after})"
    )
    return result


async def pages(browsers: list[User], args, think: float) -> dict:
    paths = [p for p in args.pages.split(",") if p]
    times: dict[str, list[float]] = {p: [] for p in paths}
    errors: Counter = Counter()

    async def browse(u: User) -> None:
        for _ in range(args.page_rounds):
            for path in paths:
                t0 = time.perf_counter()
                if await u.page(path, errors, path) is None:
                    continue
                times[path].append(time.perf_counter() - t0)
                if think:
                    # the person reads the page before the next click (a pause, not a wait)
                    await asyncio.sleep(think * random.uniform(0.5, 1.5))

    how = f"reading each ~{think} s" if think else "no pause between pages"
    progress(
        f"pages: {len(browsers)} users x {args.page_rounds} rounds of {', '.join(paths)} ({how})"
    )
    began = time.perf_counter()
    await asyncio.gather(*(browse(u) for u in browsers))
    seconds = time.perf_counter() - began
    load = load_average()
    result = {
        "pages_p50_ms": {p: pct(t, 50) for p, t in times.items()},
        "pages_p99_ms": {p: pct(t, 99) for p, t in times.items()},
        "pages_per_s": round(sum(len(t) for t in times.values()) / seconds, 1),
        "think_s": think,
        "errors": dict(errors),
        "load_average": load,
    }
    for p in paths:
        say(
            f"page {p} ({how}): p50 {result['pages_p50_ms'][p]} ms,"
            f" p99 {result['pages_p99_ms'][p]} ms (load average {load})"
        )
    return result


async def confirms(pool, partner_users: list[User], ids: list[str]) -> dict:
    """Capacity with 20 in flight on the first half, then the second half at half of it."""
    if len(ids) < 4:
        return {}
    half = len(ids) // 2
    errors: Counter = Counter()

    async def confirm(process_id: str, u: User) -> float | None:
        t0 = time.perf_counter()
        r = await u.post(
            f"/orders/{process_id}/confirm", data={"csrf": u.csrf, "request": uuid.uuid4().hex}
        )
        if r.status_code != 303:
            errors[f"HTTP {r.status_code}"] += 1
            return None
        return time.perf_counter() - t0

    gate = asyncio.Semaphore(20)

    async def gated(i: int, process_id: str) -> float | None:
        async with gate:
            return await confirm(process_id, partner_users[i % len(partner_users)])

    began = time.perf_counter()
    await asyncio.gather(*(gated(i, x) for i, x in enumerate(ids[:half])))
    capacity = half / (time.perf_counter() - began)
    rate = capacity / 2
    progress(f"confirm: capacity {capacity:.1f}/s; {len(ids) - half} at {rate:.1f}/s")
    tasks = []
    began = time.perf_counter()
    for i, process_id in enumerate(ids[half:]):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the open loop's schedule
        tasks.append(
            asyncio.create_task(confirm(process_id, partner_users[i % len(partner_users)]))
        )
    answered = [t for t in await asyncio.gather(*tasks) if t is not None]
    applied = await pool.fetchval(
        "SELECT count(*) FROM orders WHERE process_id = ANY($1::text[]) AND status = 'applied'",
        ids,
    )
    load = load_average()
    result = {
        "capacity_per_s": round(capacity, 1),
        "rate_per_s": round(rate, 1),
        "p50_ms": pct(answered, 50),
        "p99_ms": pct(answered, 99),
        "errors": sum(errors.values()),
        "applied_once": applied == len(ids),
        "load_average": load,
    }
    say(
        f"confirm: capacity {result['capacity_per_s']}/s (20 in flight); at"
        f" {result['rate_per_s']}/s p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms;"
        f" every order applied once {result['applied_once']} (load average {load})"
    )
    return result


def summary(out: dict) -> dict:
    r, p, c = out["rush"], out["pages"], out.get("confirm", {})
    flat_out = out["pages_saturation"]
    return {
        "claims_per_s": r["claims_per_s"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "to_page_p99_ms": r["to_page_p99_ms"],
        "rush_rate": r["rate"],
        "errors": r["errors"]
        + sum(p["errors"].values())
        + (sum(flat_out["errors"].values()) if flat_out is not p else 0)
        + c.get("errors", 0),
        "one_owner_per_lead": r["one_owner_per_lead"],
        "caps_respected": r["caps_respected"],
        "every_claim_audited": r["every_claim_audited"],
        "answers_in_their_language": r["answers_in_their_language"],
        "pages_p99_ms": p["pages_p99_ms"],
        "pages_saturation_p99_ms": flat_out["pages_p99_ms"],
        "pages_saturation_per_s": flat_out["pages_per_s"],
        "confirm_p99_ms": c.get("p99_ms"),
        "confirm_applied_once": c.get("applied_once"),
        **out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--users", type=int, default=10, help="users per partner")
    parser.add_argument("--claims-per-user", type=int, default=5)
    parser.add_argument(
        "--answer-page",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="each click followed by its answer's page within the clock, as a browser follows"
        " the redirect (default: the POST until the portal's answer; the pages read after)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="after every user's first click at the same moment, clicks a second (0: each user"
        " clicks again the moment its answer's page is loaded, the closed loop)",
    )
    parser.add_argument("--hot", type=int, default=3000, help="claims go to the N oldest leads")
    parser.add_argument("--cap", type=int, default=40, help="claim cap per partner")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--browsers", type=int, default=50)
    parser.add_argument("--page-rounds", type=int, default=10)
    parser.add_argument("--pages", default=PAGES, help=f"comma-separated (default {PAGES})")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds a browsing user reads a page before the next (0: the saturation run only)",
    )
    parser.add_argument("--confirms", type=int, default=40)
    parser.add_argument(
        "--portals",
        type=int,
        default=1,
        help="portal processes, each user keeping to one (as behind a load balancer)",
    )
    parser.add_argument("--quick", action="store_true", help="a run under two minutes")
    args = parser.parse_args()
    if args.quick:
        args.leads, args.orders = min(args.leads, 10_000), min(args.orders, 2_000)
        args.page_rounds, args.confirms = min(args.page_rounds, 3), min(args.confirms, 16)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        return asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    run(main)
