"""Benchmark of the CLV model fits against lifetimes, in the same run, and of the `clv fit`
and `survival` commands end to end (``python bench/clv.py``; ``make bench`` installs the
``bench`` extra, which brings lifetimes).

The fits run on the CDNOW summary the papers use (2,357 customers, tests/data) and on ten
copies of it (23,570 customers; same parameters), in turns: each round fits with csmetrics
and with lifetimes once, and each figure is the median of the rounds. The run checks that
both give the same parameters before it counts. The commands run on a small demo workspace
(built once under bench/.cache), beside `csmetrics --help` (the start-up alone) and the
command's profile (cProfile: the imports, the query, the fits, the storing). Prints
markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from csmetrics.predict.clv import fit_bgnbd, fit_gamma_gamma

HERE = Path(__file__).resolve().parent
CDNOW = HERE.parent / "tests" / "data" / "cdnow_customers_summary_with_transactions.csv"
DEMO = HERE / ".cache" / "clv-demo"
CLI = Path(sys.executable).with_name("csmetrics")
ENV = {**os.environ, "CSMETRICS_NOW": "2026-07-15T10:00:00+00:00", "NO_COLOR": "1"}


def fits(copies: int, rounds: int) -> dict[str, object]:
    """Median fit seconds of csmetrics and lifetimes on ``copies`` copies of CDNOW."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    data = pd.concat([pd.read_csv(CDNOW)] * copies, ignore_index=True)
    repeat = data[data["x"] > 0]
    times: dict[str, list[float]] = {k: [] for k in ("bg", "bg_lifetimes", "gg",
                                                      "gg_lifetimes")}
    for _ in range(rounds):
        started = time.perf_counter()
        ours = fit_bgnbd(data["x"], data["t_x"], data["T"])
        times["bg"].append(time.perf_counter() - started)
        started = time.perf_counter()
        theirs = BetaGeoFitter().fit(data["x"], data["t_x"], data["T"])
        times["bg_lifetimes"].append(time.perf_counter() - started)
        started = time.perf_counter()
        spend = fit_gamma_gamma(data["x"], data["zbar"])
        times["gg"].append(time.perf_counter() - started)
        started = time.perf_counter()
        spend_theirs = GammaGammaFitter().fit(repeat["x"], repeat["zbar"])
        times["gg_lifetimes"].append(time.perf_counter() - started)
    ours_params = [round(v, 3) for v in ours.params]
    theirs_params = [round(float(theirs.params_[k]), 3) for k in ("r", "alpha", "a", "b")]
    spend_ours = [round(v, 2) for v in (spend.p, spend.q, spend.gamma)]
    spend_params = [round(float(spend_theirs.params_[k]), 2) for k in ("p", "q", "v")]
    return {"customers": len(data), **{k: statistics.median(v) for k, v in times.items()},
            "agree": ours_params == theirs_params and spend_ours == spend_params,
            "params": (ours_params, theirs_params, spend_ours, spend_params)}


def command_seconds(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(CLI), *args], env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"csmetrics {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


#: The steps of ``csmetrics clv fit`` the profile reports: (file ending, function).
STEPS = (("scipy/optimize/__init__.py", "<module>", "import scipy.optimize"),
         ("csmetrics/workspace.py", "clv_fit", "the command's work"),
         ("csmetrics/predict/clv.py", "rfm_summary", "RFM from the orders (one query)"),
         ("csmetrics/predict/clv.py", "fit_bgnbd", "fit BG/NBD"),
         ("csmetrics/predict/clv.py", "fit_gamma_gamma", "fit Gamma-Gamma"),
         ("csmetrics/predict/results.py", "replace", "store the results"))


def python_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)
    return time.perf_counter() - started


def profile(*args: str) -> list[str]:
    """Cumulative seconds of ``STEPS`` in a fresh ``csmetrics ARGS`` under cProfile."""
    out = DEMO.parent / "clv-fit.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "csmetrics",
                    *args], env=ENV, check=True, capture_output=True)
    stats = pstats.Stats(str(out), stream=io.StringIO()).stats  # type: ignore[attr-defined]
    found = []
    for ending, function, label in STEPS:
        seconds = sum(value[3] for (path, _, name), value in stats.items()
                      if path.endswith(ending) and name == function)
        found.append(f"{label} {seconds:.2f} s")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    results = [fits(copies, options.rounds) for copies in (1, 10)]
    if not (DEMO / "csmetrics.toml").exists():
        subprocess.run([str(CLI), "demo", "--workspace", str(DEMO), "--customers", "300",
                        "--months", "24", "--end", "2026-06-30", "--force"], env=ENV,
                       check=True, capture_output=True)
    start_up = statistics.median(command_seconds("--help") for _ in range(3))
    imports = statistics.median(python_seconds("import csmetrics.cli") - python_seconds("pass")
                                for _ in range(3))
    commands = {name: statistics.median(command_seconds(*args, "-w", str(DEMO))
                                        for _ in range(3))
                for name, args in (("clv fit", ("clv", "fit")), ("survival", ("survival",)))}
    profiles = {"clv fit": profile("clv", "fit", "-w", str(DEMO))}
    lines = ["## CLV and survival models", "",
             f"Command: `python bench/clv.py --rounds {options.rounds}` (fits: medians of "
             f"{options.rounds} rounds, csmetrics and lifetimes in turns; commands: medians of "
             f"3 runs on a 300-customer demo).",
             f"Machine: {platform.machine()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} cores.", "",
             "| work | csmetrics | lifetimes, same run | ratio | same parameters |",
             "|---|---|---|---|---|"]
    for result in results:
        for model, label in (("bg", "BG/NBD fit"), ("gg", "Gamma-Gamma fit")):
            ours, theirs = result[model], result[f"{model}_lifetimes"]
            lines.append(f"| {label}, {result['customers']:,} customers | {ours:.3f} s | "
                         f"{theirs:.3f} s | {ours / theirs:.2f}x | "
                         f"{'yes' if result['agree'] else 'DISAGREES ' + str(result['params'])} |")
    lines += ["", "| command (300-customer demo) | seconds | of which start-up (`--help`) |",
              "|---|---|---|"]
    lines += [f"| `csmetrics {name}` | {seconds:.2f} | {start_up:.2f} |"
              for name, seconds in commands.items()]
    lines += ["", f"Where `csmetrics clv fit` spends its time: importing the CLI (pandas, "
              f"Ibis, DuckDB, Typer) {imports:.2f} s (median of 3); then, by cProfile "
              "(cumulative, one run): " + "; ".join(profiles["clv fit"]) + "."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
