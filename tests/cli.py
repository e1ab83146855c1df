"""`graphormer` command lines for the tests, each run as `python -m graphormer ...` would run it.

Starting Python, torch and Lightning costs about 10 s a command here (Lightning imports torchmetrics, which
imports transformers when it is installed, as the dev extra does), and the suite runs some forty commands. So
one server process imports all that once and forks a child per command. The child gets the command's working
directory, environment, argv, stdin (empty), stdout and stderr files and exit status, and calls the same
`graphormer.cli.main` as `python -m graphormer`. Commands that start processes of their own (DDP workers
re-run `sys.argv`) use `fresh=True`: a real interpreter.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}


# ------------------------------------------------------------------------------------------- server side
def become_command(request: dict) -> None:
    """In the forked child: become `python -m graphormer <argv>` in `cwd` with `env`, then exit."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, key in ((1, "out"), (2, "err")):
            os.dup2(os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = ["graphormer", *request["argv"]]
        from graphormer.cli import main

        code = main(request["argv"])
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:  # what the interpreter prints for an uncaught exception
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.02)


def preload() -> None:
    """The heavy imports, once, in the process that forks the commands."""
    import graphormer.cli  # noqa: F401
    import graphormer.inference.jobs  # noqa: F401
    import graphormer.train.run  # noqa: F401

    # Lightning picks its logging at import time: its own console handler when the root logger has none yet.
    # A real command imports Lightning after Hydra has set up logging, so Lightning's records reach the run's
    # graphormer.log; here it was imported first, so undo that choice.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def serve() -> None:
    """Requests (JSON lines) on stdin, exit codes (JSON lines) on stdout."""
    preload()
    responses = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed here goes to stderr, not into the answers
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            become_command(request)
        responses.write(json.dumps({"code": _wait(pid, request["timeout"])}) + "\n")
        responses.flush()


# ------------------------------------------------------------------------------------------- client side
class _Server:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=ENV, cwd=REPO)
        self.folder = Path(tempfile.mkdtemp(prefix="graphormer-cli-"))
        self.count = 0
        atexit.register(self.close)

    def run(self, argv: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
        self.count += 1
        out, err = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
        request = {"argv": argv, "cwd": str(cwd), "env": env, "timeout": timeout, "out": str(out), "err": str(err)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the graphormer command server died")
        code = json.loads(line)["code"]
        result = subprocess.CompletedProcess(["graphormer", *argv], code, out.read_text(errors="replace"),
                                             err.read_text(errors="replace"))
        out.unlink()
        err.unlink()
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


_server: _Server | None = None


def graphormer(*args: str, cwd: Path, check: bool = True, timeout: float = 600, env: dict | None = None,
               fresh: bool = False) -> subprocess.CompletedProcess:
    """Run `graphormer <args>` in `cwd`; `check`: a non-zero exit fails the test with both streams."""
    global _server
    env = {**ENV, **(env or {})}
    if fresh:
        proc = subprocess.run([sys.executable, "-m", "graphormer", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, env=env)
    else:
        if _server is None or _server.proc.poll() is not None:
            _server = _Server()
        proc = _server.run(list(args), Path(cwd), env, timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


if __name__ == "__main__":
    serve()
