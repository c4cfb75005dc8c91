"""The figures against their targets: a table on the terminal, and the boot storm's chart."""

import matplotlib

matplotlib.use("Agg")  # a file, never a window

from pathlib import Path
from typing import Any

from matplotlib import pyplot
from rich.console import Console
from rich.table import Table

Results = dict[str, Any]
TARGET_STORM = 500
"""The storm size the boot storm's target is set at."""


def targets(results: Results) -> list[tuple[str, str, str, bool]]:
    """(what, target, measured, met) for every target the run has figures for."""
    rows = []
    storms = results.get("bootStorm") or []
    if storms:
        largest = storms[-1]
        ratios = ", ".join(f"{s['ratio']}x at {s['servers']}" for s in storms)
        rows.append(
            (
                "boot storm vs floor",
                f"<= 1.3x at every N up to {TARGET_STORM}",
                ratios,
                largest["servers"] >= TARGET_STORM and all(s["ratio"] <= 1.3 for s in storms),
            )
        )
        writes = largest["apiWrites"]
        rows.append(
            (
                "writes per Server",
                "<= 6, no cluster-wide LIST",
                f"{writes['perServer']}, {writes['clusterWideLists']} cluster-wide LISTs",
                writes["perServer"] <= 6 and writes["clusterWideLists"] == 0,
            )
        )
        rest = largest["atRest"]
        rows.append(
            (
                f"writes at rest ({rest['seconds']:g} s)",
                "0",
                str(rest["writes"]),
                rest["writes"] == 0,
            )
        )
    memory = results.get("memory")
    if memory:
        rows.append(
            (
                f"RSS with {memory['objects']} objects",
                "<= 150 MiB",
                f"{memory['rssMiB']} MiB"
                + (
                    f" (+{memory['perThousandMiB']} MiB per 1,000)"
                    if memory["perThousandMiB"] is not None
                    else ""
                ),
                memory["rssMiB"] <= 150,
            )
        )
    restart = results.get("restart")
    if restart:
        rows.append(
            (
                f"restart with {restart['objects']} objects",
                "idle <= 60 s, 0 writes",
                f"idle after {restart['idleSeconds']} s, {restart['writes']} writes",
                restart["idleSeconds"] <= 60 and restart["writes"] == 0,
            )
        )
    scheduler = results.get("scheduler")
    if scheduler:
        refused = scheduler["noValidHostSeconds"]
        rows.append(
            (
                f"NoValidHost on {scheduler['nodes']} nodes",
                "<= 1 s",
                f"median {refused['median']} s, p95 {refused['p95']} s",
                refused["p95"] <= 1,
            )
        )
    rally = results.get("bootAndDelete")
    if rally:
        active, gone = rally["createToActive"] or {}, rally["deleteToGone"] or {}
        rows.append(
            (
                f"boot and delete x{rally['iterations']} at {rally['concurrency']}",
                "100% success",
                f"{rally['successRate']:.0%}; Active median {active.get('median')} s, "
                f"p95 {active.get('p95')} s; gone median {gone.get('median')} s, "
                f"p95 {gone.get('p95')} s",
                rally["successRate"] == 1,
            )
        )
    page = results.get("consoleServersPage")
    if page:
        timing, asked = page["seconds"], page["apiRequestsPerPage"]
        lists = {k: v for k, v in asked.items() if k.startswith("list ")}
        rows.append(
            (
                f"console Servers page, {page['servers']} Servers",
                "<= 300 ms; one LIST per kind, no request per Server",
                f"median {timing['median'] * 1000:.0f} ms, p95 {timing['p95'] * 1000:.0f} ms; "
                + ", ".join(f"{v:g} {k}" for k, v in sorted(asked.items())),
                timing["p95"] <= 0.3
                and all(v == 1 for v in lists.values())
                and "get servers" not in asked,
            )
        )
    return rows


def print_table(results: Results, console: Console) -> None:
    storms = results.get("bootStorm") or []
    if storms:
        table = Table(title="Boot storm: seconds until every Server is Active")
        for column in ("Servers", "Stratus", "Floor", "Ratio", "Writes/Server", "Deleted in"):
            table.add_column(column, justify="right")
        for storm in storms:
            table.add_row(
                str(storm["servers"]),
                f"{storm['stratusSeconds']:.1f}",
                f"{storm['floorSeconds']:.1f}",
                f"{storm['ratio']:.2f}",
                f"{storm['apiWrites']['perServer']:.2f}",
                f"{storm['deleteSeconds']:.1f}",
            )
        console.print(table)
    backup = results.get("volumeBackup")
    if backup:
        table = Table(
            title=f"VolumeBackup of {backup['volumeGiB']} GiB holding {backup['writtenMiB']} MiB"
        )
        for column in ("Step", "Seconds to Ready", "Stored (MiB)"):
            table.add_column(column, justify="right")
        table.add_row("full", f"{backup['fullSeconds']:.1f}", f"{backup['fullStoredMiB']:.0f}")
        table.add_row(
            "incremental",
            f"{backup['incrementalSeconds']:.1f}",
            f"{backup['incrementalStoredMiB']:.0f}",
        )
        same = "byte for byte" if backup["restoredByteForByte"] else "DIFFERENT"
        table.add_row("restore", f"{backup['restoreSeconds']:.1f}", same)
        console.print(table)
    table = Table(title="Targets")
    for column in ("Figure", "Target", "Measured", "Met"):
        table.add_column(column)
    for what, target, measured, met in targets(results):
        table.add_row(what, target, measured, "yes" if met else "NO")
    console.print(table)


def chart(results: Results, path: Path) -> None:
    """Time to Active against Server count, Stratus against the floor."""
    storms = results.get("bootStorm") or []
    if not storms:
        return
    counts = [s["servers"] for s in storms]
    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    axes.plot(counts, [s["stratusSeconds"] for s in storms], "o-", label="Stratus")
    axes.plot(counts, [s["floorSeconds"] for s in storms], "s--", label="floor (operator stopped)")
    for storm in storms:
        axes.annotate(
            f"{storm['ratio']:.2f}x",
            (storm["servers"], storm["stratusSeconds"]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
        )
    axes.set_xlabel("Servers applied at once")
    axes.set_ylabel("seconds until all are Active")
    axes.set_title("Boot storm on the local control plane")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)
