"""A pre-started interpreter for the tests' `starter.py` / `python -m store` / `worker.py`
commands (run as a script by tests/e2e/forked.py, never imported by the tests).

Python's start and the imports take 0.7 s of a starter command's 1 s on the 2-core box (1.7 s
of worker.py's start), and the suite runs hundreds of them. So:

- the BASE zygote starts once per test session with the tests' own environment and imports
  the libraries the commands import (temporalio, pydantic, asyncpg, aiohttp, ...; what a
  throw-away child that imports worker.py, starter.py and what store/__main__.py imports
  loaded beyond the project's own modules). None of them reads our settings at import;
- for each environment of the tests (a task queue, a database, a key ring ...) it forks an
  ENV zygote, which takes that environment as its own (os.environ) and only then imports the
  project's modules (config reads PARTNERFLOW_TASK_QUEUE ... at import);
- the env zygote forks one child per command: a process of its own (its pid, signals, exit
  code; stdin, stdout and stderr as the test passed them) that runs the script as `__main__`
  with the command's argv, as `python starter.py ...` would. Only the interpreter's start and
  the imports are shared.

Protocol, on a SOCK_SEQPACKET control socket inherited as fd `argv[3]`: the zygote sends
b"ready" (or b"failed: ..." and exits). A request is a JSON message with descriptors:
- {"script": path, "argv": [...]} or {"module": name, "argv": [...]}, descriptors (reply,
  stdin, stdout, stderr): runs the command;
- {"zygote": "mod,mod", "env": {...}}, descriptors (reply, control of the new zygote): an
  env zygote (base only).
On the reply socket: "pid N\\n", and when the child has ended "exit CODE\\n" (CODE as asyncio's
returncode: -N for a signal). End of file on the control socket: it waits for its children
and exits.
"""

import atexit
import importlib
import json
import os
import runpy
import selectors
import socket
import sys
import threading
from pathlib import Path


def _project(root: str) -> set[str]:
    """The project's own top-level modules, found in `root` (never listed by hand: a new
    package would be imported with the libraries, and with it settings read too early)."""
    top = Path(root)
    return {p.stem for p in top.glob("*.py")} | {p.parent.name for p in top.glob("*/__init__.py")}


def _run_command(request: dict, fds: list[int]) -> None:
    """In the forked child: become the command and leave with its exit code."""
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    code = 0
    try:
        if "script" in request:
            sys.argv = [request["script"], *request["argv"]]
            runpy.run_path(request["script"], run_name="__main__")
        else:
            sys.argv = ["-m", *request["argv"]]
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as e:  # as the interpreter treats it
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        sys.excepthook(*sys.exc_info())
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def _preload(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)
    # forking is only safe with no other thread (the SDK starts its runtime later, in the
    # child, when it connects)
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError("threads started at import")


def _libraries(root: str) -> list[str]:
    """The modules beyond the project's own that worker.py, starter.py and `python -m store`
    import, from a throw-away child (so that no project module is imported here)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            before, project = set(sys.modules), _project(root)
            for name in ("worker", "starter", "store.db", "store.demo", "store.people"):
                importlib.import_module(name)
            new = [
                m
                for m in sys.modules
                if m not in before and m.split(".")[0] not in project and not m.startswith("_")
            ]
            os.write(w, json.dumps(new).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        names = json.loads(f.read() or b"[]")
    os.waitpid(pid, 0)
    out = []
    for name in names:  # some are only importable through their parent (C extensions ...)
        try:
            importlib.import_module(name)
            out.append(name)
        except Exception:  # noqa: BLE001, S112
            continue
    return out


def _serve(control: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ)
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply)
    accepting = True
    while accepting or running:
        for key, _ in sel.select():
            if key.fileobj is control:
                msg, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
                if not msg:
                    accepting = False
                    sel.unregister(control)
                    continue
                request = json.loads(msg)
                reply = socket.socket(fileno=fds[0])
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    control.close()
                    reply.close()
                    for pidfd, (_, other) in running.items():
                        os.close(pidfd)
                        other.close()
                    if "zygote" in request:
                        _become_env_zygote(request, socket.socket(fileno=fds[1]))
                    _run_command(request, fds[1:])
                for fd in fds[1:]:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, reply)
                sel.register(pidfd, selectors.EVENT_READ)
                try:
                    reply.sendall(f"pid {pid}\n".encode())
                except OSError:
                    pass  # the test went away; the child still runs to its end
            else:
                pidfd = key.fd
                pid, reply = running.pop(pidfd)
                sel.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                try:
                    reply.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                reply.close()


def _become_env_zygote(request: dict, control: socket.socket) -> None:
    """In a child of the base zygote: the environment of the commands, then their modules."""
    code = 0
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        _preload(list(filter(None, request["zygote"].split(","))))
    except BaseException as e:  # noqa: BLE001 - the tests fall back to plain processes
        control.send(f"failed: {e!r}".encode())
        os._exit(1)
    try:
        control.send(b"ready")
        _serve(control)
    except BaseException:  # noqa: BLE001
        sys.excepthook(*sys.exc_info())
        code = 1
    os._exit(code)


def main() -> None:
    root, preload, control_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # as `python starter.py` and `python -m store` (run in root) see it, not this folder
    sys.path[0] = root
    control = socket.socket(fileno=control_fd)
    try:
        os.close(os.pidfd_open(os.getpid()))  # Linux 5.3+; elsewhere: plain processes
        if preload == "base":
            _libraries(root)
            _preload([])
        else:
            _preload(list(filter(None, preload.split(","))))
    except BaseException as e:  # noqa: BLE001 - the tests fall back to plain processes
        control.send(f"failed: {e!r}".encode())
        os._exit(1)
    control.send(b"ready")
    _serve(control)


if __name__ == "__main__":
    main()
