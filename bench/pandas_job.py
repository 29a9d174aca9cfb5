"""One pandas baseline in its own process, so its frames do not count in the benchmark's
peak memory (the target is csmetrics' memory, and pandas holds every row in Python objects).

    python bench/pandas_job.py mrr|stickiness FOLDER FIRST LAST END REPEAT

reads the Parquet files the benchmark exported to FOLDER and prints one JSON object: the
median seconds and the values per month by column.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd
from baselines import mrr_pandas, stickiness_pandas
from run import timed


def main() -> None:
    kind, folder = sys.argv[1], Path(sys.argv[2])
    first, last, end = (date.fromisoformat(a) for a in sys.argv[3:6])
    repeat = int(sys.argv[6])
    if kind == "mrr":
        subs = pd.read_parquet(folder / "subscriptions.parquet")
        rates = pd.read_parquet(folder / "exchange_rates.parquet")
        seconds, result = timed(lambda: mrr_pandas(subs, rates, first, last), repeat)
        values = {c: result[c].tolist() for c in result.columns}
    else:
        events = pd.read_parquet(folder / "usage_events.parquet")
        seconds, result = timed(lambda: stickiness_pandas(events, first, end), repeat)
        values = {"stickiness": result.stickiness.tolist()}
    sys.stdout.write(json.dumps({"seconds": seconds, "values": values}))


if __name__ == "__main__":
    main()
