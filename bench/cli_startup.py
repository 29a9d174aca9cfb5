"""Start-up benchmark of the command line: how long a user waits for ``csmetrics --help``,
``metrics list``, a stored metric query and ``health list``, beside the floor of any
Typer + Rich command (``python -c "import typer, rich"``) measured in the same run.

Not a timed test. It builds a demo workspace with the real CLI in a temporary folder
(``csmetrics demo --customers 300 --end 2026-06-30``, which refreshes the stored results),
checks that ``metrics show mrr`` is answered from them (a current refresh), then runs each
command in a new process, ``--rounds`` times, all of them in turns in each round so that a
slow spell of the shared machine hits every command alike. Each figure is the median over the
rounds of the wall time (and of the CPU time, user + system, of the process: steadier on a
busy machine); the ratio is to the baseline's median wall time.

    python bench/cli_startup.py --rounds 5          # a quick run
    python bench/cli_startup.py --markdown          # the table for docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

CLI = Path(sys.executable).with_name("csmetrics")

#: The demo's last day and the clock of every process: the data end never moves.
END = "2026-06-30"
NOW = "2026-07-15T10:00:00+00:00"
CUSTOMERS = 300

console = Console() if sys.stdout.isatty() else Console(width=130)


@dataclass(frozen=True)
class Case:
    """One command to time: its label, its arguments, and its target in seconds (if any)."""

    label: str
    argv: tuple[str, ...]
    target: float | None = None


def cases(workspace: Path) -> list[Case]:
    """The baseline first, then the commands, each with the issue's target."""
    ws = ("-w", str(workspace))
    return [
        Case('baseline: python -c "import typer, rich"',
             (sys.executable, "-c", "import typer, rich")),
        Case("csmetrics --help", (str(CLI), "--help"), 0.5),
        Case("csmetrics metrics list", (str(CLI), "metrics", "list"), 0.5),
        Case("csmetrics metrics show mrr -w W (stored)",
             (str(CLI), "metrics", "show", "mrr", *ws), 1.0),
        Case("csmetrics health list -w W", (str(CLI), "health", "list", *ws)),
    ]


def note(text: str) -> None:
    """Progress, on stderr (stdout carries the tables and the markdown)."""
    print(text, file=sys.stderr, flush=True)


def run(argv: tuple[str, ...] | list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command to its end; its wall time and CPU time (user + system) in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def build_demo(folder: Path, env: dict[str, str]) -> Path:
    """The demo workspace, loaded and refreshed by the real command."""
    workspace = folder / "ws"
    note(f"building the demo ({CUSTOMERS} customers, to {END}) ...")
    subprocess.run([str(CLI), "demo", "--customers", str(CUSTOMERS), "--end", END,
                    "--workspace", str(workspace)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return workspace


def answered_from_storage(workspace: Path, env: dict[str, str]) -> bool:
    """Whether ``metrics show mrr`` reads the refresh's stored results (they are current)."""
    check = (
        "import sys; from pathlib import Path; from csmetrics import Workspace, MetricRequest\n"
        "from csmetrics.metrics.stored import stored_answer\n"
        "with Workspace.load(Path(sys.argv[1])) as ws:\n"
        "    answer = stored_answer(ws.warehouse.sql, ws.warehouse.ibis, ws.settings,\n"
        "                           MetricRequest.create(['mrr']), today=ws.today())\n"
        "print('yes' if answer is not None else 'no')\n")
    done = subprocess.run([sys.executable, "-c", check, str(workspace)], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip() == "yes"


def measure(rounds: int) -> dict[str, object]:
    """Build the workspace, then time every case ``rounds`` times, in turns."""
    env = {**os.environ, "CSMETRICS_NOW": NOW, "COLUMNS": "120"}
    begun = time.perf_counter()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="csmetrics-cli-bench-") as scratch:
        workspace = build_demo(Path(scratch), env)
        # a refresh that finds nothing changed: the stored results are current for this code
        subprocess.run([str(CLI), "refresh", "-w", str(workspace)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored = answered_from_storage(workspace, env)
        todo = cases(workspace)
        for case in todo:  # warm the file cache: the first run of each is not counted
            run(case.argv, env)
        times: dict[str, list[tuple[float, float]]] = {c.label: [] for c in todo}
        for number in range(rounds):
            note(f"round {number + 1} of {rounds} ...")
            for case in todo:
                times[case.label].append(run(case.argv, env))
        load.append(os.getloadavg()[0])
    rows = []
    for case in todo:
        wall = statistics.median(w for w, _ in times[case.label])
        cpu = statistics.median(c for _, c in times[case.label])
        rows.append({"label": case.label, "wall": wall, "cpu": cpu, "target": case.target,
                     "walls": [w for w, _ in times[case.label]]})
    base = rows[0]["wall"]
    for row in rows:
        row["ratio"] = row["wall"] / base
    return {"rows": rows, "rounds": rounds, "stored": stored, "machine": machine(),
            "minutes": (time.perf_counter() - begun) / 60, "load": (min(load), max(load))}


def verdict(row: dict[str, object]) -> str:
    """The target and whether the median wall time and the median CPU time meet it (on a
    busy machine the wall time waits for the CPU; on an idle one the two are close)."""
    target = row["target"]
    if target is None:
        return ""
    wall = "meets" if row["wall"] < target else "misses"  # type: ignore[operator]
    cpu = "meets" if row["cpu"] < target else "misses"  # type: ignore[operator]
    return f"target < {target:g} s: wall {wall}, CPU {cpu}"


def machine() -> str:
    return (f"{platform.machine()}, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, {os.cpu_count()} cores")


def show(result: dict[str, object]) -> None:
    grid = Table(title=f"CLI start-up, medians of {result['rounds']} rounds")
    for heading in ("command", "wall", "CPU", "x baseline", "target"):
        grid.add_column(heading, justify="left" if heading in ("command", "target") else "right")
    for row in result["rows"]:  # type: ignore[attr-defined]
        grid.add_row(row["label"], f"{row['wall']:.3f} s", f"{row['cpu']:.3f} s",
                     f"{row['ratio']:.1f}x", verdict(row))
    console.print(grid)
    console.print(f"stored results answer 'metrics show mrr': "
                  f"{'yes' if result['stored'] else 'NO (it computed)'}; load average "
                  f"{result['load'][0]:.1f} to {result['load'][1]:.1f}")  # type: ignore[index]


def markdown(result: dict[str, object]) -> str:
    lines = [
        "## CLI start-up", "",
        f"Command: `python bench/cli_startup.py --rounds {result['rounds']}` (each command in "
        f"a new process, all in turns in each round; medians of {result['rounds']} rounds; "
        f"the workspace is `csmetrics demo --customers {CUSTOMERS} --end {END}`, which "
        f"refreshes, clock {NOW}; stored results current: "
        f"{'yes' if result['stored'] else 'no'}; run took {result['minutes']:.1f} min).",
        f"Machine: {result['machine']}; shared with other jobs (1-minute load average "
        f"{result['load'][0]:.1f} to {result['load'][1]:.1f} during the run), so compare "  # type: ignore[index]
        "ratios within a run. CPU is the process's user + system time.", "",
        "| command | wall (median) | CPU (median) | x baseline | target |",
        "|---|---|---|---|---|",
        *[f"| `{row['label']}` | {row['wall']:.2f} s | {row['cpu']:.2f} s | "
          f"{row['ratio']:.1f}x | {verdict(row)} |"
          for row in result["rows"]],  # type: ignore[attr-defined]
        "",
    ]
    return "\n".join(lines).replace('`baseline: python -c "import typer, rich"`',
                                    'baseline: `python -c "import typer, rich"`')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed runs of each command")
    parser.add_argument("--markdown", action="store_true",
                        help="also print a markdown table for docs/benchmarks.md")
    args = parser.parse_args()
    if not CLI.exists():
        sys.exit(f"{CLI} not found: run this with the project's venv (.venv/bin/python)")
    result = measure(args.rounds)
    show(result)
    if args.markdown:
        sys.stdout.write("\n" + markdown(result) + "\n")


if __name__ == "__main__":
    main()
