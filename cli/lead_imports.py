"""A file of leads as the starter sends it: checked whole before anything is written or sent,
left for the workers in batches of 5,000 (personal data never enters Temporal), each batch one
step on the queue keyed by its content, so that the same command run again resumes; and
`deliver`, which sends a step to a queue across its rollovers."""

import asyncio
import random
import re
import sys
import time
import uuid
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import config
from cli.common import answered, emit, temporal
from cli.forms import read_text, validated
from client.failures import NO_ANSWER, OK, REFUSED, BadInput, Failure, failure_message
from domain.errors import Refused
from domain.leads import (
    IMPORT_BATCH,
    MAX_LEAD_FILE_BYTES,
    MAX_LEADS_PER_FILE,
    ROLLING_OVER,
    LeadBatch,
    LeadRow,
    batches,
    dedupe_key,
    parse_lead_file,
)
from domain.steps import StepAnswer
from store.leads import forget_batch, save_batch
from workflows.lead_queue_router import LeadQueueRouter

RESEND = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
# Server answers for a step that was never applied: it was in the task in which the run
# closed (continue-as-new), or it arrived while the run was closing.
UNAPPLIED = (ROLLING_OVER, "UnprocessedUpdate")


def _again(err: Exception) -> bool:
    """A step that did not reach a decision and must be sent again: the queue was moving to
    a new run (turned away, unprocessed or aborted), or had 10 steps in flight already."""
    if isinstance(err, RPCError):
        return err.status in RESEND or (
            err.status == RPCStatusCode.NOT_FOUND and "aborted by closing workflow" in err.message
        )
    cause = getattr(err, "cause", None)
    return isinstance(cause, ApplicationError) and cause.type in UNAPPLIED


async def deliver(handle, update, step, *, update_id: str, patience: float = 60.0):
    """Sends a step to a lead queue and returns its answer. Sent again under the same update
    id while `_again` says so (with a growing pause, for up to `patience` seconds): the run
    that takes it applies it once, and nothing sent is lost in a rollover."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    pause = 0.05
    while True:
        try:
            return await handle.execute_update(update, step, id=update_id)
        except (RPCError, WorkflowUpdateFailedError) as err:
            if not _again(err) or loop.time() > deadline:
                raise
        await asyncio.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.5)


class ImportProgress:
    """A bar on a terminal (stderr); a line every few seconds otherwise. `clock` injectable."""

    def __init__(self, total: int, stream=None, every: float = 5.0, clock=time.monotonic):
        self.total, self.stream = total, stream or sys.stderr
        self.every, self.clock = every, clock
        self.tty = self.stream.isatty()
        self.last_at: float | None = None  # never 0.0: monotonic() is small after a boot

    def show(self, done: int, batch: int, batches_: int, new: int, duplicates: int) -> None:
        words = (
            f"{done}/{self.total} leads, batch {batch}/{batches_}: {new} new, "
            f"{duplicates} duplicate(s)"
        )
        if self.tty:
            filled = int(30 * done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {words}   ")
            self.stream.flush()
            return
        now = self.clock()
        if self.last_at is None or now - self.last_at >= self.every or done == self.total:
            print(words, file=self.stream, flush=True)
            self.last_at = now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def import_file(args, handle, rows: list[LeadRow]) -> int:
    """A whole file, checked before (parse_lead_file, the limits), sent in batches of 5,000.
    Each batch is one step keyed by its content: the same command run again after an
    interruption sends the same batches, and those already in are answered from the audit
    log, not imported twice (resumable). One batch file exists at a time; it is removed once
    the worker has read it, or here if the step did not go through (no orphaned files)."""
    root = config.documents_dir()
    chunks = batches(rows, IMPORT_BATCH)
    progress = None if args.json else ImportProgress(len(rows))
    answers: list[StepAnswer] = []
    totals = {"new": 0, "duplicates": 0, "resumed": 0}
    done = 0
    try:
        for n, chunk in enumerate(chunks, 1):
            try:
                ref = save_batch(root, chunk)
            except OSError as e:
                raise BadInput(f"cannot write the leads to {root}: {e.strerror}") from None
            # A new id per run of the command: what makes a batch once is its step key (its
            # content) in the audit log, so a run after an interruption resumes, whatever
            # happened to the earlier run's request.
            invocation = args.request_id or uuid.uuid4().hex[:8]
            update_id = f"add_leads-{ref.sha256[:24]}-{invocation}-{n}"
            try:
                answer = await answered(
                    await temporal(),
                    handle.id,
                    f"lead queue {args.queue}",
                    deliver(
                        handle,
                        LeadQueueRouter.add_leads,
                        validated(LeadBatch, actor=args.actor, batch=ref),
                        update_id=update_id,
                    ),
                    resend=update_id,
                )
            except WorkflowUpdateFailedError as e:
                forget_batch(root, ref)  # refused: not needed (personal data, not kept)
                raise Failure(
                    REFUSED,
                    f"batch {n} of {len(chunks)} ({done} lead(s) before it "
                    f"are in): {failure_message(e)}",
                ) from None
            except Failure as f:
                if f.code != NO_ANSWER:
                    forget_batch(root, ref)
                    raise
                # the step may still be carried out: the worker needs the file (and removes
                # it once read); the same command run again resumes with this batch
                raise Failure(
                    NO_ANSWER,
                    f"batch {n} of {len(chunks)} ({done} lead(s) before "
                    f"it are in): {f}; run the same command again to resume",
                ) from None
            except BaseException:
                forget_batch(root, ref)  # not sent (interrupted, unreachable): not left
                raise
            forget_batch(root, ref)  # the worker read it (it removes it too)
            done += len(chunk)
            if answer.message.startswith(ALREADY_RECEIVED):
                # in since an earlier run: its answer repeats that run's counts, which are
                # not what this run added (nothing)
                totals["resumed"] += len(chunk)
                answer = answer.model_copy(
                    update={"message": f"{len(chunk)} lead(s) already received before: 0 new"}
                )
            else:
                for key in ("new", "duplicates"):
                    totals[key] += _count(answer.message, key)
            answers.append(answer)
            if progress:
                progress.show(done, n, len(chunks), totals["new"], totals["duplicates"])
    finally:
        if progress:
            progress.close()
    if len(answers) == 1 and not totals["resumed"]:
        emit(args, True, answers[0].message, answers[0], label="")
    else:
        resumed = (
            f", {totals['resumed']} received before (this file, or this batch of it, was "
            "imported already): nothing added for them"
            if totals["resumed"]
            else ""
        )
        emit(
            args,
            True,
            f"{len(rows)} lead(s) received in {len(answers)} batch(es): "
            f"{totals['new']} new, {totals['duplicates']} duplicate(s) not added{resumed}\n"
            + "\n".join(f"batch {n}: {a.message}" for n, a in enumerate(answers, 1)),
            {"batches": [a.model_dump(mode="json") for a in answers], **totals},
            label="",
        )
    return OK


ALREADY_RECEIVED = "already received"  # the queue's answer to a batch it has imported before


def _count(message: str, what: str) -> int:
    """The counts in a batch's answer ("5000 lead(s) received: 4990 new; 10 duplicate(s)")."""
    if what == "new":
        m = re.search(r"(\d+) new", message)
        return int(m.group(1)) if m else 0
    return sum(int(n) for n in re.findall(r"(\d+) already in (?:this|another) queue", message))


def check_lead_file(path: Path) -> list[LeadRow]:
    """A file of leads is accepted or refused whole, before anything is written or sent: at
    most 64 MiB and 100,000 leads, every row valid (each problem named with its row)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None
    if size > MAX_LEAD_FILE_BYTES:
        raise BadInput(
            f"{path.name} is {size // (1024 * 1024)} MiB: a file of leads may have "
            f"at most {MAX_LEAD_FILE_BYTES // (1024 * 1024)} MiB and "
            f"{MAX_LEADS_PER_FILE} leads; split it. Nothing was sent"
        )
    text = read_text(path)
    try:
        rows = parse_lead_file(path.name, text)
    except Refused as r:
        raise BadInput(f"{r}. Nothing was sent") from None
    if len(rows) > MAX_LEADS_PER_FILE:
        raise BadInput(
            f"{path.name} has {len(rows)} leads: a file may have at most "
            f"{MAX_LEADS_PER_FILE}; split it. Nothing was sent"
        )
    return rows


def same_person_twice(rows: list[LeadRow]) -> list[str]:
    """Rows of one file that are the same person (one lead): named before sending."""
    first: dict[str, int] = {}
    out = []
    for n, row in enumerate(rows, 1):
        key = dedupe_key(row)
        if key in first:
            out.append(f"row {n} is the same person as row {first[key]}")
        else:
            first[key] = n
    return out
