"""Subprocesses of the bench and what /proc says about them.

Every child starts in its own process group with a parent-death signal, and is remembered, so
the orchestrator kills them all (and their children: daphne workers) on any exit."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
_children: list[subprocess.Popen[Any]] = []
try:  # loaded here, not in the forked child (where only the prctl call runs)
    _libc: Any = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _libc = None


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _die_with_parent() -> None:
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed orchestrator takes us along


def spawn(args: list[str], *, env: dict[str, str], log: Path | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=kw.pop("stdout", out),
        stderr=kw.pop("stderr", out),
        start_new_session=True,
        preexec_fn=_die_with_parent,
        **kw,
    )
    _children.append(proc)
    return proc


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM to the child's whole process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (workers)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)


def stop_all() -> None:
    while _children:
        stop(_children.pop(), timeout=5)


atexit.register(stop_all)


# -- /proc ------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat(pid)
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return total


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def postgres_backends(database: str) -> list[int]:
    """The server processes of connections to one database (their title names it)."""
    found = []
    for pid in pids_named("postgres"):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if f" {database} " in title:
                found.append(pid)
    return found


class BackendSampler:
    """CPU used by one database's PostgreSQL backends. Backends come and go (CONN_MAX_AGE=0
    opens one per request), so a thread samples them every 0.2 s and adds up what each used
    while seen; connections shorter than that are missed (an undercount)."""

    def __init__(self, database: str) -> None:
        import threading

        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="pg-sampler")
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.2):
            with contextlib.suppress(Exception):
                for pid in postgres_backends(self.database):
                    used = cpu_seconds([pid])
                    self.first.setdefault(pid, used)
                    self.last[pid] = used

    def total(self) -> float:
        return sum(self.last[p] - self.first[p] for p in list(self.last))

    def stop(self) -> None:
        self.stopped.set()


def system_busy_seconds() -> float:
    """CPU time all processes on the machine used (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def connections_per_pid(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on local `port` held by each of these processes."""
    inodes: dict[str, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port and parts[3] == "01" and parts[9] in inodes:
                    counts[inodes[parts[9]]] += 1
    return counts


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": os.uname().release,
    }


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_settled(pids: list[int], timeout: float, quiet: float = 0.05) -> bool:
    """Until these processes use under `quiet` CPU seconds in half a second (start-up done)."""
    deadline = time.time() + timeout
    last = cpu_seconds(pids)
    while time.time() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pids)
        if now - last < quiet:
            return True
        last = now
    return False


@contextlib.contextmanager
def profiled(pids: list[int], name: str) -> Any:
    """With BENCH_PROFILE=DIR (and py-spy on the PATH or in the venv), `py-spy record` of
    these processes for the block, one folded-stack file each (DIR/NAME-PID.txt): how the
    report's "what limits it" lines are found. Without it, nothing."""
    out = os.environ.get("BENCH_PROFILE")
    spy = Path(sys.executable).with_name("py-spy")
    if not out or not spy.exists():
        yield
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "-p",
                str(pid),
                "-r",
                "250",
                "-f",
                "raw",
                "--nonblocking",
                "-o",
                f"{out}/{name}-{pid}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for spy_proc in spies:
            spy_proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy_proc in spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy_proc.wait(20)
