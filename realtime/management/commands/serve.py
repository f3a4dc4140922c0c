"""`manage.py serve --workers N`: N daphne processes sharing one listening socket.

The kernel spreads new connections over the workers; a worker that dies is started again, and
its browsers reconnect (to any worker) and resync. With REDIS_URL set the workers share live
streams through Redis; without it, use one worker (the in-memory layer is per process).

Metrics (realtime.metrics): every worker gets PROMETHEUS_MULTIPROC_DIR, the operator's or a new
temporary directory, emptied here before the workers start (files of an earlier run would count
again); a worker that exits has its live gauges dropped (`mark_process_dead`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.metrics import MULTIPROC_ENV


class Command(BaseCommand):
    help = "Serve Courtside with N daphne worker processes on one port."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--proxy-headers", action="store_true", help="Trust X-Forwarded-*.")
        parser.add_argument(
            "--app",
            default="config.asgi:application",
            help="The ASGI application (the benchmark runs tests.bench.asgi:application).",
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        workers: int,
        proxy_headers: bool,
        app: str,
        **options: Any,
    ) -> None:
        if workers > 1 and not settings.REDIS_URL:
            raise CommandError(
                "Several workers need REDIS_URL (the in-memory layer is per process)."
            )
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
        listener.set_inheritable(True)
        command = [
            sys.executable,
            "-m",
            "daphne",
            "--fd",
            str(listener.fileno()),
            "--ping-interval",
            "20",
            "--ping-timeout",
            "30",
            # A worker's surviving sibling takes all of a dead worker's sockets at once; their
            # handshakes queue for a few seconds. Dropping them at daphne's default 5 s only
            # makes every browser retry and the queue grow; serve them instead.
            "--websocket_connect_timeout",
            "30",
            "--no-server-name",  # no `Server: daphne` header on responses
        ]
        if proxy_headers:
            command.append("--proxy-headers")
        command.append(app)

        metrics_dir, made = metrics_directory()
        env = {**os.environ, MULTIPROC_ENV: str(metrics_dir)}

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(command, pass_fds=[listener.fileno()], env=env)

        processes = [start() for _ in range(workers)]
        pids = [p.pid for p in processes]
        self.stdout.write(f"Courtside on http://{host}:{port}/ with {workers} worker(s): {pids}")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                time.sleep(0.2)
                for index, process in enumerate(processes):
                    if process.poll() is not None and not stopping:
                        self.stderr.write(
                            f"worker {process.pid} exited ({process.returncode}); starting another"
                        )
                        worker_gone(metrics_dir, process.pid)
                        processes[index] = start()
                        self.stderr.write(f"started worker {processes[index].pid}")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            if made:
                shutil.rmtree(metrics_dir, ignore_errors=True)


def metrics_directory() -> tuple[Path, bool]:
    """The workers' metrics directory, empty, and whether it is ours to remove at the end."""
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        return Path(tempfile.mkdtemp(prefix="courtside-metrics-")), True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):  # prometheus_client's files only
        old.unlink()
    return path, False


def worker_gone(metrics_dir: Path, pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(metrics_dir))
