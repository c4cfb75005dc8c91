"""`python -m bench`: run the scenarios against the local cluster, print the table, write
the results and the chart. Sizes are arguments; the defaults finish in under 20 minutes on
two cores."""

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import report, scenarios
from bench.harness import Bench
from devcluster.cluster import State, install, up
from devcluster.operator import refuse_a_second_operator
from stratus.core.kube import HANDLER_THREADS

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("storm", "memory", "scheduler", "rally", "console", "backup")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--state", type=Path, default=REPO / ".stratus")
    parser.add_argument("--servers", default="20 50", help="boot storm sizes, e.g. '100 300 500'")
    parser.add_argument("--nodes", type=int, default=20, help="KWOK nodes for the storms")
    parser.add_argument("--objects", type=int, default=500, help="Stratus objects held")
    parser.add_argument("--scheduler-nodes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="of each scheduler timing")
    parser.add_argument("--iterations", type=int, default=100, help="of boot and delete")
    parser.add_argument("--concurrency", type=int, default=10, help="of boot and delete")
    parser.add_argument("--rest", type=float, default=60, help="seconds of the at-rest window")
    parser.add_argument(
        "--console-servers", type=int, default=500, help="Servers on the console's page"
    )
    parser.add_argument("--backup-gib", type=int, default=20, help="the backed-up Volume's size")
    parser.add_argument(
        "--backup-mib", type=int, default=256, help="random data written to it before"
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "performance-storm.png")
    return parser.parse_args()


def about_the_run(args: argparse.Namespace) -> dict[str, Any]:
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "revision": revision,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "operatorWorkers": HANDLER_THREADS,
        "arguments": {k: str(v) for k, v in vars(args).items()},
    }


def main() -> None:
    args = arguments()
    console = Console()
    state = State(args.state.resolve())
    up(state)
    install(state)
    refuse_a_second_operator(state, "the benchmark")
    only = set(args.only.split(","))
    sizes = [int(n) for n in args.servers.split()]
    bench = Bench.connect(state, max(HANDLER_THREADS, args.concurrency))
    results: dict[str, Any] = {"run": about_the_run(args)}

    def record(name: str, run: Callable[[], Any]) -> None:
        console.rule(name)
        results[name] = run()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")

    bench.operator.start()
    try:
        scenarios.prepare(bench, args.nodes)
        if "storm" in only:
            record(
                "bootStorm",
                lambda: [scenarios.boot_storm(bench, n, HANDLER_THREADS, args.rest) for n in sizes],
            )
        if "scheduler" in only:
            record(
                "scheduler",
                lambda: scenarios.scheduler(bench, args.scheduler_nodes, args.nodes, args.repeats),
            )
        if "rally" in only:
            record(
                "bootAndDelete",
                lambda: scenarios.boot_and_delete(bench, args.iterations, args.concurrency),
            )
        if "console" in only:
            record(
                "consoleServersPage",
                lambda: scenarios.console_servers_page(bench, args.console_servers),
            )
        if "backup" in only:
            record(
                "volumeBackup",
                lambda: scenarios.backup_and_restore(bench, args.backup_gib, args.backup_mib),
            )
        if "memory" in only:
            held = scenarios.memory_and_restart(bench, args.objects, args.rest)
            record("memory", lambda: held["memory"])
            record("restart", lambda: held["restart"])
            console.rule("clearing the tenants")
            scenarios.clear_tenants(bench)
    finally:
        # The cluster is left with the nodes it had: later Servers (a test's, a user's) are
        # placed as if the benchmark had never run.
        scenarios.remove_nodes_from(bench, 0, args.nodes)
        bench.operator.stop()
    report.print_table(results, console)
    report.chart(results, args.chart)
    console.print(f"results: {args.output}; chart: {args.chart}")


if __name__ == "__main__":
    main()
