"""A pre-started interpreter for the tests' `starter.py` / `python -m store` / `worker.py`
commands (run as a script by tests/e2e/cli.py, never imported by the tests).

Python's start and the imports take 0.7 s of a starter command's 1 s on the 2-core box, and
the suite runs hundreds of them. This process starts ONCE with exactly the environment and
working folder its commands get, imports the modules they import, and then forks one child per
command: each command is still a process of its own (its pid, signals, exit code, stdin, stdout
and stderr as pipes), running the script as `__main__` with the command's argv, as
`python starter.py ...` would; only the interpreter's start and the imports are shared. The
project reads settings from the environment at import time (config.TASK_QUEUE ...), which is
why one zygote serves one environment only.

Protocol, on a SOCK_SEQPACKET socket inherited as fd `argv[3]`: the zygote sends b"ready"
(or b"failed: ..." and exits); each request is a JSON message {"script" or "module", "argv"}
with four descriptors (reply socket, stdin, stdout, stderr); on the reply socket the zygote
writes "pid N\\n" and, when the child has ended, "exit CODE\\n" (CODE as asyncio's returncode:
-N for a signal). End of file on the control socket: it waits for its children and exits.
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


def _run_child(request: dict, fds: list[int]) -> None:
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


def main() -> None:
    root, preload, control_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # as `python starter.py` and `python -m store` (run in root) see it, not this folder
    sys.path[0] = root
    control = socket.socket(fileno=control_fd)
    try:
        for name in filter(None, preload.split(",")):
            importlib.import_module(name)
        # forking is only safe with no other thread (the SDK starts its runtime later, in
        # the child, when it connects)
        if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
            raise RuntimeError("threads started at import")
    except BaseException as e:  # noqa: BLE001 - the tests fall back to plain processes
        control.send(f"failed: {e!r}".encode())
        os._exit(1)
    control.send(b"ready")

    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ)
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply)
    accepting = True
    while accepting or running:
        for key, _ in sel.select():
            if key.fileobj is control:
                msg, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
                if not msg:
                    accepting = False
                    sel.unregister(control)
                    continue
                reply = socket.socket(fileno=fds[0])
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    control.close()
                    reply.close()
                    for pidfd, (_, other) in running.items():
                        os.close(pidfd)
                        other.close()
                    _run_child(json.loads(msg), fds[1:])
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


if __name__ == "__main__":
    main()
