"""Commands of the tests as processes forked from a pre-started interpreter (tests/e2e/zygote.py):
each command is still a process of its own, run as `python <script>` / `python -m <module>`
would run it, with the same environment, argv, working folder and pipes; what is saved is the
interpreter's start and the imports (0.7 s of a starter command's 1 s here).

`spawn()` answers a `Forked` (the part of asyncio.subprocess.Process the tests use: pid,
returncode, stdin/stdout/stderr streams, wait, communicate, send_signal, kill, terminate).
If a zygote cannot start (an import fails, a thread starts at import), the command runs as a
plain subprocess, so that such failures show as they would for a user.
"""

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZYGOTE = Path(__file__).with_name("zygote.py")
PIPE, DEVNULL = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
# What a command's zygote imports ahead: the script's own imports (run in root, as the
# script does). One zygote per (environment, this list): config reads the environment.
# (Not store.__main__ itself: `python -m store` runs it fresh, runpy warns if it was imported.)
COMMANDS = "starter,store.db,store.demo,store.people"
PRELOAD = {"starter.py": COMMANDS, "store": COMMANDS, "worker.py": "worker"}
KEEP = 8  # env zygotes kept (least recently used ones end); they share the base's pages


class Forked:
    def __init__(
        self, control: tuple[asyncio.StreamReader, asyncio.StreamWriter], stdin, stdout, stderr
    ) -> None:
        # the writer is kept: dropping it closes the socket
        self._control, self._writer = control
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.pid: int = 0
        self.returncode: int | None = None
        self._ended = asyncio.get_running_loop().create_future()

    async def _started(self) -> None:
        line = await self._control.readline()
        if not line.startswith(b"pid "):
            raise RuntimeError("the zygote did not fork the command")
        self.pid = int(line.split()[1])
        asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        line = await self._control.readline()
        if line.startswith(b"exit "):
            self.returncode = int(line.split()[1])
            self._ended.set_result(self.returncode)
        else:
            self._ended.set_exception(RuntimeError(f"the zygote of pid {self.pid} went away"))
        self._writer.close()

    async def wait(self) -> int:
        return await asyncio.shield(self._ended)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:
        if self.stdin is not None:
            if input:
                self.stdin.write(input)
                try:
                    await self.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass
            self.stdin.close()

        async def read(stream):
            return None if stream is None else await stream.read()

        out, err = await asyncio.gather(read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err


class _Zygote:
    def __init__(self, control: socket.socket, keep=None) -> None:
        self.control, self._keep = control, keep  # keep: its process or reply socket

    def close(self) -> None:
        # it finishes the commands it runs, then exits
        self.control.close()


_zygotes: "OrderedDict[tuple, asyncio.Task]" = OrderedDict()
# What an environment may change, of the one the base zygote started with, for its zygote to
# come from the base: settings read by the project only (config, codec, observability ...),
# and the test runner's own bookkeeping (pytest names the running test, Selenium sets
# SE_OFFLINE), never read by the libraries the base imported. Any other difference (PATH,
# PYTHON*, the locale ...) gets a zygote of its own, started with that environment.
OURS = ("PARTNERFLOW_", "TEMPORAL_", "DATABASE_URL", "USER", "PYTEST_CURRENT_TEST", "SE_OFFLINE")


async def _ready(control: socket.socket) -> bool:
    control.setblocking(False)
    answer = await asyncio.get_running_loop().sock_recv(control, 1 << 16)
    control.setblocking(True)  # requests are tiny: a send never waits
    return answer == b"ready"


async def _start_zygote(env: dict[str, str], preload: str) -> _Zygote | None:
    """A zygote process started with `env` (`preload`: "base", or the modules to import)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    log = tempfile.TemporaryFile()  # its own words, were it to fail
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ZYGOTE),
            str(ROOT),
            preload,
            str(theirs.fileno()),
            cwd=ROOT,
            env=env,
            stdin=DEVNULL,
            stdout=DEVNULL,
            stderr=log,
            pass_fds=[theirs.fileno()],
        )
    finally:
        theirs.close()
    if not await _ready(ours):
        ours.close()
        await proc.wait()
        return None
    return _Zygote(ours, proc)


async def _from_base(base: _Zygote, env: dict[str, str], preload: str) -> _Zygote | None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    reply, their_reply = socket.socketpair()
    try:
        socket.send_fds(
            base.control,
            [json.dumps({"zygote": preload, "env": env}).encode()],
            [their_reply.fileno(), theirs.fileno()],
        )
    finally:
        theirs.close()
        their_reply.close()
    if not await _ready(ours):
        ours.close()
        reply.close()
        return None
    return _Zygote(ours, reply)


async def _cached(key: tuple, start) -> _Zygote | None:
    task = _zygotes.get(key)
    if task is None:
        task = _zygotes[key] = asyncio.get_running_loop().create_task(start())
        while len(_zygotes) > KEEP:
            _, old = _zygotes.popitem(last=False)
            old.add_done_callback(lambda t: t.result() and t.result().close())
    _zygotes.move_to_end(key)
    zygote = await asyncio.shield(task)
    if zygote is not None and zygote.control.fileno() == -1:  # closed meanwhile: again
        _zygotes.pop(key, None)
        return await _cached(key, start)
    return zygote


_base: dict = {}


async def _zygote(env: dict[str, str], preload: str) -> _Zygote | None:
    loop = asyncio.get_running_loop()
    env = dict(env)
    if _base.get("loop") is not loop:
        base_env = dict(os.environ)
        _base.update(
            loop=loop, env=base_env, task=loop.create_task(_start_zygote(base_env, "base"))
        )
    base_env = _base["env"]
    differs = {k for k in base_env.keys() | env.keys() if base_env.get(k) != env.get(k)}
    if all(k.startswith(OURS) for k in differs):

        async def start():
            base = await asyncio.shield(_base["task"])
            return None if base is None else await _from_base(base, env, preload)
    else:

        async def start():
            return await _start_zygote(env, preload)

    return await _cached((loop, preload, tuple(sorted(env.items()))), start)


def _pipe_ends(how, fd: int, for_reading: bool) -> tuple[int, int | None]:
    """(the child's descriptor, ours or None) for PIPE, DEVNULL, None (this process's own)
    or a file object."""
    if how == PIPE:
        r, w = os.pipe()
        return (r, w) if for_reading else (w, r)
    if how == DEVNULL:
        return os.open(os.devnull, os.O_RDWR), None
    if how is None:
        return os.dup(fd), None
    return os.dup(how.fileno()), None


async def spawn(env: dict[str, str], argv: list[str], *, stdin=None, stdout=None, stderr=None):
    """Runs `python <argv>` in ROOT (argv: a script path and its arguments, or "-m", a module
    and its arguments) as asyncio.create_subprocess_exec would."""
    if argv[0] == "-m":
        name, request = argv[1], {"module": argv[1], "argv": argv[2:]}
    else:
        name, request = Path(argv[0]).name, {"script": str(argv[0]), "argv": argv[1:]}
    zygote = await _zygote(env, PRELOAD[name]) if name in PRELOAD else None
    if zygote is None:
        return await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=ROOT, env=env, stdin=stdin, stdout=stdout, stderr=stderr
        )
    loop = asyncio.get_running_loop()
    ends = [_pipe_ends(stdin, 0, True), _pipe_ends(stdout, 1, False), _pipe_ends(stderr, 2, False)]
    reply, theirs = socket.socketpair()
    try:
        socket.send_fds(
            zygote.control,
            [json.dumps(request).encode()],
            [theirs.fileno(), *(child for child, _ in ends)],
        )
    finally:
        theirs.close()
        for child, _ in ends:
            os.close(child)
    streams = []
    for (_, mine), reading in zip(ends, (False, True, True), strict=True):
        if mine is None:
            streams.append(None)
        elif reading:
            reader = asyncio.StreamReader(limit=2**16, loop=loop)
            await loop.connect_read_pipe(
                lambda r=reader: asyncio.StreamReaderProtocol(r), os.fdopen(mine, "rb", 0)
            )
            streams.append(reader)
        else:
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop=loop), os.fdopen(mine, "wb", 0)
            )
            streams.append(asyncio.StreamWriter(transport, protocol, None, loop))
    control = await asyncio.open_unix_connection(sock=reply)
    proc = Forked(control, *streams)
    await proc._started()
    return proc
