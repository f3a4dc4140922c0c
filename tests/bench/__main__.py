"""python -m tests.bench [--smoke] [--out PATH] [--docs PATH] [--phases a,b] [...]

Full plan (`make bench`): ~13 minutes on a fast host (at most 20), writes
var/bench/summary.json and the tables in docs/benchmarks.md. Smoke plan (--smoke): a few
clients for a few seconds, JSON only; used by tests/test_bench_smoke.py so the harness cannot
rot."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import sys
from pathlib import Path

from tests.bench.orchestrator import ALL_PHASES, FULL, ROOT, SMOKE, Bench, log, watchdog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few clients, a few seconds")
    parser.add_argument("--out", type=Path, help="JSON summary (default var/bench/summary.json)")
    parser.add_argument("--docs", type=Path, help="Markdown file to write the tables into")
    parser.add_argument("--db", default="", help="database to create and drop")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--client-procs", type=int)
    parser.add_argument("--levels", help="viewers per latency level, e.g. 100,1000")
    parser.add_argument("--ramp", help="idle connection targets, e.g. 1000,3000,5000")
    parser.add_argument(
        "--level-at", type=int, help="ramp step measured for latency and a kill (0: the last)"
    )
    parser.add_argument("--phases", help=f"subset of {','.join(ALL_PHASES)}")
    parser.add_argument("--deadline", type=float, help="seconds before everything is killed")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        help="DB_CONN_MAX_AGE for every process (default 0; see docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)

    plan = dataclasses.replace(SMOKE if args.smoke else FULL)
    if args.workers:
        plan.workers = args.workers
    if args.client_procs:
        plan.client_procs = args.client_procs
    if args.levels:
        plan.levels = [int(x) for x in args.levels.split(",")]
        plan.inject_level = (
            max(plan.levels) if plan.inject_level not in plan.levels else plan.inject_level
        )
    if args.ramp:
        plan.ramp = [int(x) for x in args.ramp.split(",")]
    if args.level_at is not None:
        plan.level_at = args.level_at
    if args.phases:
        plan.phases = args.phases.split(",")
    if args.deadline:
        plan.deadline = args.deadline
    # The product's default (0) keeps its connection pool on; a positive value turns the pool
    # off and keeps persistent connections instead, which under daphne pile up one per request
    # thread until the refetch and resync storms exhaust max_connections (docs/benchmarks.md).
    os.environ["DB_CONN_MAX_AGE"] = str(0 if args.conn_max_age is None else args.conn_max_age)
    default_out = "smoke-summary.json" if args.smoke else "summary.json"
    out = args.out or ROOT / "var" / "bench" / default_out
    # A name of its own per run: two runs at once must not drop each other's database.
    db = args.db or f"courtside_bench{'_smoke' if args.smoke else ''}_{os.getpid()}"
    command = "python -m tests.bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if os.environ.get("MAKELEVEL"):  # run by `make bench`
        extra = os.environ.get("BENCH_ARGS", "").strip()
        command = "make bench" + (f' BENCH_ARGS="{extra}"' if extra else "") + f" (runs {command})"
    bench = Bench(plan, db_name=db, out=out, docs=args.docs, command=command.strip())

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    timer = watchdog(plan.deadline, on_expiry=bench.teardown)
    try:
        return bench.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        timer.cancel()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")
    sys.exit(main())
