"""`gauntlet`: the project's own test command, only where an admin enabled it for the project. It runs
on a copy of the files in a subprocess with a wall-clock limit, CPU, memory, file-size and process
limits, without privileges where we have them, and in a fresh network namespace (`unshare -n`): where
no such namespace can be made, it refuses to run. Output is captured and truncated."""
from __future__ import annotations

import functools
import os
import resource
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from flask import current_app

from app.projects.validators import register
from app.projects.validators.base import Finding, Validator, ValidatorUnavailable

NOBODY = 65534
MAX_OUTPUT_BYTES = 16 * 1024


@functools.cache
def isolation_prefix() -> tuple[str, ...] | None:
    """The command prefix that gives a child no network, or None where none works here."""
    unshare = shutil.which("unshare")
    if not unshare:
        return None
    for flags in ("-n", "-rn"):
        try:
            if subprocess.run([unshare, flags, "true"], capture_output=True, timeout=10).returncode == 0:
                return (unshare, flags, "--")
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _limits(cpu_seconds: int, memory_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_NPROC, (128, 128))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_command(argv: list[str], workdir: str, *, timeout: float, cpu_seconds: int, memory_bytes: int,
                tick=lambda: None) -> dict:
    """Run `argv` in `workdir` isolated and limited; returns exit code, whether it timed out, output."""
    prefix = isolation_prefix()
    if prefix is None:
        raise ValidatorUnavailable("This server cannot give the test command its own network namespace "
                                   "(unshare -n), so the gauntlet does not run here.")
    drop = []
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv and prefix[1] == "-n":
        drop = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8", "TMPDIR": workdir}
    with tempfile.TemporaryFile() as output:
        started = time.monotonic()
        process = subprocess.Popen([*prefix, *drop, *argv], cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_limits(cpu_seconds, memory_bytes))
        timed_out = False
        try:
            while True:
                try:
                    process.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - started > timeout:
                        timed_out = True
                        break
                    tick()
        finally:
            if process.poll() is None:
                with _ignore():
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.seek(0)
        data = output.read(MAX_OUTPUT_BYTES + 1)
    text = data[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace")
    return {"exit_code": process.returncode, "timed_out": timed_out, "output": text,
            "truncated": len(data) > MAX_OUTPUT_BYTES, "seconds": round(time.monotonic() - started, 3)}


class _ignore:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


@register
class GauntletValidator(Validator):
    name = "gauntlet"
    label = "Gauntlet"
    description = "The project's own test command, isolated and limited (only where an admin enabled it)."

    def is_enabled(self, project):
        return project.is_gauntlet_enabled and bool((project.settings.get("test_command") or "").strip())

    def check(self, project, tick):
        config = current_app.config
        try:
            argv = shlex.split(project.settings["test_command"])
        except ValueError as error:
            return [Finding("error", "tests", "command-invalid", f"The test command cannot be read: {error}")]
        # The system temp folder: the unprivileged child must be able to reach it (instance/ may be private).
        workdir = tempfile.mkdtemp(prefix="studio-gauntlet-")
        try:
            os.chmod(workdir, 0o777)  # the unprivileged child writes its own files here
            for ref in project.files:
                target = os.path.join(workdir, ref.path)
                os.makedirs(os.path.dirname(target), mode=0o777, exist_ok=True)
                with open(target, "wb") as out:
                    out.write(project.read(ref))
                os.chmod(target, 0o666)
            for folder, folders, _files in os.walk(workdir):
                for name in folders:
                    os.chmod(os.path.join(folder, name), 0o777)
            result = run_command(argv, workdir, timeout=float(config["GAUNTLET_TIMEOUT_SECONDS"]),
                                 cpu_seconds=int(config["GAUNTLET_CPU_SECONDS"]),
                                 memory_bytes=int(config["GAUNTLET_MEMORY_MB"]) * 1024 * 1024, tick=tick)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        details = {"output": result["output"], "truncated": result["truncated"], "exit_code": result["exit_code"],
                   "seconds": result["seconds"]}
        if result["timed_out"]:
            return [Finding("error", "tests", "tests-timeout",
                            f"The test command was stopped after {config['GAUNTLET_TIMEOUT_SECONDS']} s.",
                            details=details)]
        if result["exit_code"] != 0:
            return [Finding("error", "tests", "tests-failed",
                            f"The test command failed (exit code {result['exit_code']}).", details=details)]
        return [Finding("info", "tests", "tests-passed", "The test command passed.", details=details)]
