"""Run one scanner against a directory (or a git URL, cloned shallowly) and keep its report.

The contract every scanner module fills in is `Scanner`: the executable, the pip package
that provides it, the command line that writes a JSON (or SARIF) report, the exit codes
that mean "ran" (with or without findings), and the AIVA parser format that reads the
report. `run_scanner` does the rest, the same way for every scanner:

- the executable is looked up next to `sys.executable` first (the virtualenv's bin, where
  `pip install` puts it even when the venv is not activated), then on PATH; missing ->
  `ScannerNotInstalled` naming the pip package;
- the target is a local directory used as it is, or a git URL (https, http, ssh, git, or
  scp-like `user@host:path`) cloned with `git clone --depth 1` into a temporary directory
  that is removed afterwards; anything else is refused with `InputError`;
- the scanner runs with the target as its working directory and scans ".", so the file
  paths in its report (and so the findings' fingerprints) do not depend on where the
  target was checked out;
- no shell, stdin closed, a wall-clock timeout, a cancel event, and the whole process
  group killed on timeout or cancel (semgrep and checkov start workers of their own);
- stdout and stderr go to files (no pipe to fill up); a failure is a `ScannerError` with
  the tail of the scanner's own output.

Everything here is synchronous (the activity runs it in a thread).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiva.errors import ConfigError, InputError, ScannerError, ScannerNotInstalled

DEFAULT_TIMEOUT_S = 1800.0
CLONE_TIMEOUT_S = 600.0
STDERR_TAIL_BYTES = 4000
_POLL_S = 0.25
# Schemes accepted for a git URL target. `file://` is not among them: a local path is
# given as a path; `ext::` (git's run-a-command transport) never is.
GIT_URL_SCHEMES: tuple[str, ...] = ("https", "http", "ssh", "git")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)[A-Za-z0-9._~/-]+$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)(://|::)")


@dataclass(frozen=True)
class Scanner:
    """How to run one scanner and read its report.

    `command` gets the resolved executable and the report path and returns the argv; the
    process runs in the target directory and scans ".". When `report_on_stdout` is set
    the runner sends stdout to the report path itself.
    """

    name: str
    executable: str
    package: str
    format: str
    ok_exit_codes: frozenset[int] = frozenset({0})
    report_on_stdout: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, executable: str, output: Path) -> list[str]:
        """The argv that scans the working directory and writes the report to `output`."""
        raise NotImplementedError


@dataclass(frozen=True)
class ScanRun:
    """What one scanner run left behind: the report and how the run went."""

    scanner: str
    format: str
    output: Path
    exit_code: int
    duration_s: float
    command: tuple[str, ...]
    target: str


def locate(scanner: Scanner) -> str:
    """The scanner's executable: the interpreter's own bin directory first, then PATH."""
    exe = shutil.which(scanner.executable, path=os.path.dirname(sys.executable))
    exe = exe or shutil.which(scanner.executable)
    if exe is None:
        raise ScannerNotInstalled(scanner.name, scanner.package)
    return exe


def is_git_url(target: str) -> bool:
    """True for a git URL AIVA will clone: an allowed scheme with a host, or scp-like user@host:path."""
    t = target.strip()
    if _SCP_LIKE.match(t):
        return True
    try:
        parts = urlsplit(t)
        scheme = parts.scheme.lower()
        if scheme not in GIT_URL_SCHEMES:
            return False
        return bool(parts.hostname) or (scheme == "file" and bool(parts.path))
    except ValueError:  # a malformed netloc ("http://[::1")
        return False


def safe_url(url: str) -> str:
    """The URL without its user-info (a token in `https://user:token@host/...` stays out of logs)."""
    try:
        parts = urlsplit(url)
        if parts.scheme and parts.hostname and (parts.username or parts.password):
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=host))
    except ValueError:  # a malformed netloc or port: show only the scheme
        return f"{url.split(':', 1)[0]}://(malformed URL)"
    return url


def describe_target(target: str) -> str:
    """The target as it can be shown and stored: credentials stripped from a URL."""
    return safe_url(target) if is_git_url(target) else target


def resolve_local_target(target: str) -> Path:
    """A local target as an absolute directory; anything that is neither a directory nor a git URL is refused."""
    t = target.strip()
    if not t:
        raise InputError("empty scan target: give a directory or a git URL")
    m = _SCHEME.match(t)
    if m and m.group(1).lower() in GIT_URL_SCHEMES:
        raise InputError(f"scan target {safe_url(t)!r} is not a valid git URL (no host)")
    if m:
        raise InputError(
            f"scan target {safe_url(t)!r}: unsupported URL scheme {m.group(1)!r}"
            f" (git URLs may use {', '.join(GIT_URL_SCHEMES)} or user@host:path; local paths are given as paths)"
        )
    if t.startswith("-"):
        raise InputError(f"scan target {t!r} looks like a command-line option, not a directory or a git URL")
    path = Path(t).expanduser()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise InputError(f"scan target {t!r} {what} (give a directory or a git URL)")
    return path.resolve()


def clone(
    url: str,
    dest: Path,
    *,
    timeout: float = CLONE_TIMEOUT_S,
    cancel: threading.Event | None = None,
    protocols: tuple[str, ...] | None = None,
) -> Path:
    """Shallow-clone a git URL into `dest` (which must not exist); no prompt, no hooks, no submodules."""
    git = shutil.which("git")
    if git is None:
        raise ConfigError("git is needed to scan a git URL and is not on PATH (install the git package)")
    allowed = protocols or GIT_URL_SCHEMES
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": ":".join(allowed),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    argv = [
        git, "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null",
        "clone", "--depth", "1", "--quiet", "--no-tags", "--single-branch", "--", url, str(dest),
    ]
    log = dest.parent / f".{dest.name}.git-clone.log"
    try:
        code = _execute(argv, cwd=dest.parent, env=env, stdout=None, log=log, timeout=timeout,
                        cancel=cancel, what=f"git clone {safe_url(url)}")
        if code != 0:
            raise ScannerError(f"git clone {safe_url(url)} failed (exit {code}): {_scrub_url(_tail(log), url)}")
    finally:
        with contextlib.suppress(OSError):
            log.unlink()
    return dest


def run_scanner(
    scanner: Scanner,
    target: str,
    output: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    cancel: threading.Event | None = None,
    workdir: Path | None = None,
) -> ScanRun:
    """Run `scanner` on a directory or a git URL and leave its report at `output`.

    A git URL is cloned into a temporary directory under `workdir` (default: the system's
    temp dir), removed when the scan is over. Raises ScannerNotInstalled, InputError (a bad
    target), or ScannerError (clone failed, scanner failed, timed out, cancelled, no report).
    """
    exe = locate(scanner)
    target = target.strip()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if is_git_url(target):
        tmp = Path(tempfile.mkdtemp(prefix="aiva-clone-", dir=workdir))
        try:
            src = clone(target, tmp / "src", timeout=min(timeout, CLONE_TIMEOUT_S), cancel=cancel)
            remaining = max(1.0, timeout - (time.monotonic() - started))
            return _run_in(scanner, exe, src, target, output, remaining, cancel, started)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    src = resolve_local_target(target)
    return _run_in(scanner, exe, src, target, output, timeout, cancel, started)


def _run_in(
    scanner: Scanner,
    exe: str,
    src: Path,
    target: str,
    output: Path,
    timeout: float,
    cancel: threading.Event | None,
    started: float,
) -> ScanRun:
    argv = scanner.command(exe, output)
    env = {**os.environ, **scanner.env}
    log = output.with_name(output.name + ".log")
    with contextlib.suppress(OSError):
        output.unlink()
    try:
        code = _execute(argv, cwd=src, env=env, stdout=output if scanner.report_on_stdout else None,
                        log=log, timeout=timeout, cancel=cancel, what=scanner.name)
        if code not in scanner.ok_exit_codes:
            raise ScannerError(f"{scanner.name} failed (exit {code}) on {describe_target(target)}: {_tail(log)}")
        _check_report(scanner, output, log)
    finally:
        with contextlib.suppress(OSError):
            log.unlink()
    return ScanRun(scanner=scanner.name, format=scanner.format, output=output, exit_code=code,
                   duration_s=round(time.monotonic() - started, 3), command=tuple(argv),
                   target=describe_target(target))


def _execute(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: Path | None,
    log: Path,
    timeout: float,
    cancel: threading.Event | None,
    what: str,
) -> int:
    """Run argv (no shell) to completion; stdout to a file, stderr (and stdout when none) to `log`."""
    with contextlib.ExitStack() as stack:
        log_f = stack.enter_context(open(log, "wb"))
        out_f = stack.enter_context(open(stdout, "wb")) if stdout is not None else log_f
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out_f, stderr=log_f,
                start_new_session=True,
            )
        except OSError as e:
            raise ScannerError(f"cannot start {what} ({argv[0]}): {e.strerror or e}") from e
        deadline = time.monotonic() + timeout
        while True:
            try:
                return proc.wait(timeout=_POLL_S)
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    _kill(proc)
                    raise ScannerError(f"{what} was cancelled") from None
                if time.monotonic() > deadline:
                    _kill(proc)
                    raise ScannerError(f"{what} timed out after {timeout:.0f}s: {_tail(log)}") from None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process group the scanner leads (its workers too), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _check_report(scanner: Scanner, output: Path, log: Path) -> None:
    """The report exists and starts like JSON; log lines a scanner printed before its JSON are cut off."""
    if not output.is_file() or output.stat().st_size == 0:
        raise ScannerError(f"{scanner.name} exited without writing a report: {_tail(log)}")
    with open(output, "rb") as f:
        head = f.read(1 << 16)
    start = _json_start(head)
    if start is None:
        raise ScannerError(f"{scanner.name} wrote something that is not a JSON report: {_tail(log)}")
    if start > 0:
        tmp = output.with_name(output.name + ".trim")
        with open(output, "rb") as src, open(tmp, "wb") as dst:
            src.seek(start)
            shutil.copyfileobj(src, dst)
        os.replace(tmp, output)


_JSON_OPENING = re.compile(rb"^(?:\{\s*(?:\"|\}|$)|\[\s*(?:[\{\[\]\"0-9-]|$))")


def _json_start(head: bytes) -> int | None:
    """Offset of the first line that opens a JSON object or array (None when there is none in the head).

    "[WARNING] ..." or "[main] INFO ..." (log lines) do not count: after "[" must come a
    JSON value or the end of the line, after "{" a key, "}" or the end of the line.
    """
    offset = 0
    for line in head.splitlines(keepends=True):
        stripped = line.lstrip(b"\xef\xbb\xbf \t\r\n")
        if _JSON_OPENING.match(stripped.rstrip(b"\r\n")):
            return offset + (len(line) - len(stripped))
        offset += len(line)
    return None


def _tail(log: Path) -> str:
    """The last few KB of a scanner's own output, whitespace collapsed (for error messages)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - STDERR_TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # colour codes
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-30:]) or "(no output)"


def _scrub_url(text: str, url: str) -> str:
    """Replace the URL (with its credentials) by its safe form inside git's messages."""
    return text.replace(url, safe_url(url)) if url != safe_url(url) else text
