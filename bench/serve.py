"""Load benchmark of the server (``csmetrics serve``): requests/s and latencies of concurrent
clients on the demo company, beside one client alone, and while a refresh runs.

Not a timed test: it builds a demo workspace with the real CLI (cached under
``bench/.cache/serve-workspace``), starts the real server on a copy of it and drives it over
HTTP from a separate process (``httpx.AsyncClient``, closed loop, no think time), so the load
generator does not take the server's interpreter. Each client picks its requests, seeded,
from the mix: the dashboard's overview page (signed in), a metric over the data's months,
the customers list, one customer's 360 view and every account's health. Three phases:

1. one client alone for half of ``--seconds``;
2. ``--clients`` clients for ``--seconds``;
3. ``--clients`` clients while a full refresh runs (``csmetrics refresh --full``, which
   the server runs for the CLI), counted only while it runs; the same refresh is first
   timed alone.

A request is an error when it fails or answers with a status of 300 or more (the overview
answers a lost session with a redirect to the sign-in page). Results go to
``bench/.cache/serve-results.json``; ``--markdown`` also prints them for docs/benchmarks.md.

    python bench/serve.py --clients 4 --seconds 5 --customers 300   # a quick run
    python bench/serve.py --markdown                                 # the issue's figures
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
CACHED = CACHE / "serve-workspace"  # the demo after its refresh, with the bench's user
MARKER = CACHE / "serve-workspace.json"  # what CACHED was built with, and its credentials
RUN = CACHE / "serve-run"  # the copy a run serves (the server writes sessions into it)
RESULTS = CACHE / "serve-results.json"
CLI = Path(sys.executable).with_name("csmetrics")

#: The demo's last day and the clock every process reads: the data end never moves.
END = "2026-06-30"
MONTHS = 24
FIRST = "2024-07-01"  # the first day of the demo's ``MONTHS`` months up to ``END``
NOW = "2026-07-15T10:00:00+00:00"
SEED = 7
USER = "bench"
PASSWORD = "bench-serve-password"  # a throwaway workspace's admin

#: The mix, each picked with equal chance; the metric query asks one of the overview's KPIs.
KINDS = ("overview", "metric", "customers", "customer_360", "health")
METRICS = ("mrr", "nrr", "grr", "customer_churn_rate", "nps", "csat", "ltv_cac_ratio")
TIMEOUT = 600.0  # seconds a request may take before it counts as an error
READY_SECONDS = 180.0  # the server must answer within this after it starts
TARGETS = {"load": "target >= 50 req/s, p95 < 300 ms, 0 errors",
           "refresh": "target p95 < 1 s, 0 errors"}

console = Console() if sys.stdout.isatty() else Console(width=130)


def note(text: str) -> None:
    """Progress, on stderr (stdout carries the tables and the markdown)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def environment() -> dict[str, str]:
    """Every subprocess's environment: the fixed clock, and room for the CLI's output."""
    return {**os.environ, "CSMETRICS_NOW": NOW, "COLUMNS": "200", "NO_COLOR": "1"}


def csmetrics(*args: str, extra: dict[str, str] | None = None) -> str:
    """Run a CLI command; its stdout. A failure shows the command's output and stops."""
    done = subprocess.run([str(CLI), *args], env={**environment(), **(extra or {})},
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"csmetrics {shlex.join(args)} failed ({done.returncode}):\n"
                 f"{done.stdout}{done.stderr}")
    return done.stdout


# --- the workspace ---------------------------------------------------------------------------


def prepare(customers: int, rebuild: bool) -> dict[str, Any]:
    """The cached demo workspace (built when missing, of another size, or ``rebuild``): the
    demo, a refresh, an admin user and an API token. Returns what the marker holds."""
    wanted = {"customers": customers, "end": END, "months": MONTHS, "seed": SEED}
    if not rebuild and MARKER.exists() and CACHED.exists():
        marker = json.loads(MARKER.read_text())
        if {k: marker.get(k) for k in wanted} == wanted:
            note(f"workspace: cached {CACHED} ({customers:,} customers; --rebuild to redo)")
            return marker
    MARKER.unlink(missing_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    root = str(CACHED)
    started = time.perf_counter()
    note(f"workspace: building the {customers:,}-customer demo in {CACHED} ...")
    csmetrics("demo", "--workspace", root, "--customers", str(customers), "--months",
              str(MONTHS), "--seed", str(SEED), "--end", END, "--force")
    note("workspace: refresh ...")
    csmetrics("refresh", "--workspace", root)
    csmetrics("users", "add", USER, "--role", "admin", "--workspace", root,
              extra={"CSMETRICS_PASSWORD": PASSWORD})
    output = csmetrics("tokens", "create", USER, "--name", "bench-serve", "--workspace", root)
    token = [line.strip() for line in output.splitlines() if line.strip()][-1]
    marker = {**wanted, "username": USER, "password": PASSWORD, "token": token,
              "build_seconds": round(time.perf_counter() - started, 1)}
    MARKER.write_text(json.dumps(marker, indent=2) + "\n")
    note(f"workspace: built in {marker['build_seconds']} s")
    return marker


def fresh_copy() -> Path:
    """A copy of the cached workspace for this run: the cache stays as built."""
    shutil.rmtree(RUN, ignore_errors=True)
    shutil.copytree(CACHED, RUN)
    return RUN


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``csmetrics serve`` on ``root`` as a subprocess, its output in a log file."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = root.parent / "serve-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(CLI), "serve", "--workspace", str(self.root), "--port", str(self.port)],
                env=environment(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"the server exited ({self.process.returncode}) before answering")
            try:
                if httpx.get(f"{self.url}/api/v1/live", timeout=2).status_code == 200:
                    note(f"server: {self.url} (pid {self.process.pid}, log {self.log})")
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.fail(f"the server did not answer within {READY_SECONDS:.0f} s")
        raise AssertionError  # fail() exits

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, why: str) -> None:
        self.stop()
        sys.exit(f"{why}; its output ({self.log}):\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        """Stop the server (Ctrl-C first, as a user would), only the process we started."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for send, wait in ((lambda: process.send_signal(signal.SIGINT), 20),
                           (process.terminate, 10), (process.kill, 10)):
            send()
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def cpu_seconds(self) -> float | None:
        """The server process's CPU time so far (user + system; Linux only)."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cookie(response: httpx.Response, name: str) -> str:
    """A cookie's value from the response's Set-Cookie headers. The dashboard marks its
    cookies Secure even on http://127.0.0.1 (browsers allow it), which httpx's cookie jar
    would not send back over http, so the bench sends them by hand."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    sys.exit(f"{response.request.method} {response.request.url.path} set no {name} cookie "
             f"({response.status_code}): {response.text[:500]}")


def sign_in(url: str, username: str, password: str) -> str:
    """Sign in to the dashboard as a browser does; the session cookie's value."""
    with httpx.Client(base_url=url, timeout=60) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if form.status_code != 200 or csrf is None:
            sys.exit(f"GET /login: {form.status_code}, no CSRF field:\n{form.text[:500]}")
        client.cookies.clear()
        done = client.post("/login", data={"username": username, "password": password,
                                           "csrf": csrf.group(1)},
                           headers={"Cookie": f"csmetrics_login_csrf="
                                              f"{cookie(form, 'csmetrics_login_csrf')}"})
        if done.status_code != 303 or done.headers.get("location") != "/":
            sys.exit(f"POST /login: {done.status_code} to {done.headers.get('location')}")
        return cookie(done, "csmetrics_session")


def customer_ids(url: str, token: str) -> list[str]:
    """Every customer's id, from the API's list (the 360 view asks random ones)."""
    ids: list[str] = []
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        for page in range(1, 1000):
            answer = client.get("/api/v1/customers",
                                params={"page": page, "page_size": 500, "sort": "customer_id"})
            if answer.status_code != 200:
                sys.exit(f"GET /api/v1/customers: {answer.status_code}: {answer.text[:500]}")
            body = answer.json()
            ids += [item["customer_id"] for item in body["items"]]
            if len(ids) >= body["total"] or not body["items"]:
                break
    return ids


# --- the load generator (its own process: ``serve.py --client``, config on stdin) -------------


def target(kind: str, rng: random.Random, config: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The path and query of a request of ``kind``."""
    if kind == "overview":
        return "/", {}
    if kind == "metric":
        return f"/api/v1/metrics/{rng.choice(METRICS)}", {"period": "month", "start": FIRST,
                                                          "end": END}
    if kind == "customers":
        return "/api/v1/customers", {}
    if kind == "customer_360":
        return f"/api/v1/customers/{rng.choice(config['ids'])}", {}
    if kind == "health":
        return "/api/v1/health", {}
    raise ValueError(kind)


async def one_client(client: httpx.AsyncClient, rng: random.Random, config: dict[str, Any],
                     stop: asyncio.Event, records: list[list[Any]],
                     errors: dict[str, dict[str, Any]]) -> None:
    """Requests back to back until ``stop``: [kind, status, start (epoch s), latency (s)];
    status 0 is a request that failed without an answer."""
    headers = {"api": {"Authorization": f"Bearer {config['token']}"},
               "page": {"Cookie": f"csmetrics_session={config['cookie']}"}}
    while not stop.is_set():
        kind = rng.choice(KINDS)
        path, params = target(kind, rng, config)
        started, clock = time.time(), time.perf_counter()
        try:
            answer = await client.get(path, params=params,
                                      headers=headers["page" if kind == "overview" else "api"])
            status, detail = answer.status_code, answer.text[:300]
            if 300 <= status < 400:
                detail = f"redirect to {answer.headers.get('location')}"
        except httpx.HTTPError as exc:
            status, detail = 0, f"{type(exc).__name__}: {exc}"
        records.append([kind, status, started, time.perf_counter() - clock])
        if status == 0 or status >= 300:
            seen = errors.setdefault(f"{kind} {status}", {"count": 0, "sample": detail,
                                                          "path": path})
            seen["count"] += 1


async def load(config: dict[str, Any]) -> dict[str, Any]:
    """Run ``clients`` clients until ``seconds`` pass or a line (or EOF) comes on stdin."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch() -> None:
        sys.stdin.readline()
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the run ended on its own and the loop is closed
            pass

    threading.Thread(target=watch, daemon=True).start()
    if config["seconds"] is not None:
        loop.call_later(config["seconds"], stop.set)
    records: list[list[Any]] = []
    errors: dict[str, dict[str, Any]] = {}
    n = config["clients"]
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    cpu, started = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(base_url=config["url"], limits=limits, timeout=TIMEOUT,
                                 follow_redirects=False) as client:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.gather(*(one_client(client, random.Random(config["seed"] * 1000 + i),
                                          config, stop, records, errors) for i in range(n)))
    wall = time.perf_counter() - started
    return {"records": records, "errors": errors,
            "client_cpu": (time.process_time() - cpu) / wall if wall else None}


def client_main() -> None:
    config = json.loads(sys.stdin.readline())
    sys.stdout.write(json.dumps(asyncio.run(load(config))) + "\n")


# --- phases ----------------------------------------------------------------------------------


@dataclass
class Window:
    """When a phase counted requests (epoch seconds), and the refresh it ran beside."""

    start: float
    end: float
    refresh: dict[str, Any] | None = None


def drive(server: Server, config: dict[str, Any], seconds: float | None,
          during: Callable[[], Window] | None = None) -> tuple[dict[str, Any], Window, float]:
    """One phase: the load generator for ``seconds``, or while ``during`` runs. Returns its
    output, the window to count and the server's CPU seconds in it."""
    process = subprocess.Popen([sys.executable, __file__, "--client"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=environment())
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps({**config, "seconds": seconds}) + "\n")
    process.stdin.flush()
    if process.stdout.readline().strip() != "ready":
        sys.exit("the load generator did not start")
    cpu = server.cpu_seconds()
    if during is None:
        window = Window(time.time(), 0.0)
        output = process.stdout.readline()
        window.end = window.start + (seconds or 0)
    else:
        time.sleep(1.0)  # every client has a request in flight before the refresh starts
        window = during()
        process.stdin.write("stop\n")
        process.stdin.flush()
        output = process.stdout.readline()
    used = server.cpu_seconds()
    process.stdin.close()
    process.wait()
    if process.returncode != 0 or not output:
        sys.exit(f"the load generator failed ({process.returncode})")
    return json.loads(output), window, used - cpu if used is not None and cpu is not None else 0.0


class Refresher:
    """The refresh phase 3 runs beside the load: ``csmetrics refresh --full`` (via "cli"), or
    ``POST /api/v1/refresh`` (via "api": incremental, the route takes no full flag, so after
    the setup's refresh it recomputes no metric, only the health snapshot and the alert
    rules). "auto" tries the CLI and keeps to the API once the CLI cannot open the served
    workspace (today's server holds DuckDB's file lock; docs/serving.md sends the command to
    the server instead)."""

    def __init__(self, server: Server, root: Path, token: str, via: str) -> None:
        self.server, self.root, self.token, self.via = server, root, token, via
        self.cli_failed = ""

    def __call__(self) -> Window:
        if self.via == "api":
            return self.api()
        window = self.cli()
        assert window.refresh is not None
        if window.refresh["ok"] or self.via == "cli":
            return window
        self.via, self.cli_failed = "api", window.refresh["output"][-600:]
        last = self.cli_failed.splitlines()[-1] if self.cli_failed else ""
        note(f"refresh: the CLI failed beside the server; POST /api/v1/refresh instead:\n"
             f"  {last}")
        return self.api()

    def cli(self) -> Window:
        started = time.time()
        done = subprocess.run([str(CLI), "refresh", "--full", "--workspace", str(self.root)],
                              env=environment(), capture_output=True, text=True)
        ended = time.time()
        text = (done.stdout + done.stderr).strip()
        return Window(started, ended, {"via": "csmetrics refresh --full", "full": True,
                                       "ok": done.returncode == 0, "seconds": ended - started,
                                       "output": text[-2000:]})

    def api(self) -> Window:
        started = time.time()
        try:
            answer = httpx.post(f"{self.server.url}/api/v1/refresh", timeout=3600,
                                headers={"Authorization": f"Bearer {self.token}"})
            ok, text = answer.status_code == 200, f"{answer.status_code} {answer.text[:2000]}"
        except httpx.HTTPError as exc:
            ok, text = False, f"{type(exc).__name__}: {exc}"
        ended = time.time()
        return Window(started, ended, {"via": "POST /api/v1/refresh", "full": False, "ok": ok,
                                       "seconds": ended - started, "output": text,
                                       "cli_failed": self.cli_failed})


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    values = np.percentile(np.array(latencies) * 1000, [50, 95, 99, 100])
    return {key: round(float(v), 1) for key, v in zip(("p50", "p95", "p99", "max"), values,
                                                      strict=True)}


def summarise(name: str, label: str, clients: int, output: dict[str, Any], window: Window,
              cpu: float) -> dict[str, Any]:
    """A phase's figures over the requests that started inside its window."""
    span = max(window.end - window.start, 1e-9)
    counted = [r for r in output["records"] if window.start <= r[2] <= window.end]
    failed = [r for r in counted if r[1] == 0 or r[1] >= 300]
    endpoints = {}
    for kind in KINDS:
        mine = [r for r in counted if r[0] == kind]
        endpoints[kind] = {"requests": len(mine),
                           "errors": sum(1 for r in mine if r[1] == 0 or r[1] >= 300),
                           **percentiles([r[3] for r in mine])}
    return {"phase": name, "label": label, "clients": clients, "seconds": round(span, 1),
            "requests": len(counted), "requests_per_second": round(len(counted) / span, 2),
            **percentiles([r[3] for r in counted]), "errors": len(failed),
            "error_kinds": output["errors"], "server_cpu": round(cpu / span, 2),
            "client_cpu": output["client_cpu"] and round(output["client_cpu"], 2),
            "endpoints": endpoints, "refresh": window.refresh}


def warm_up(url: str, config: dict[str, Any]) -> None:
    """One request of each kind before the clock starts (first calls compile and cache);
    a refused token or session stops the run, a server error is a finding and shown."""
    rng = random.Random(SEED)
    with httpx.Client(base_url=url, timeout=TIMEOUT, follow_redirects=False) as client:
        for kind in KINDS:
            path, params = target(kind, rng, config)
            headers = ({"Cookie": f"csmetrics_session={config['cookie']}"} if kind == "overview"
                       else {"Authorization": f"Bearer {config['token']}"})
            started = time.perf_counter()
            answer = client.get(path, params=params, headers=headers)
            took = time.perf_counter() - started
            note(f"warm-up: {kind:<13} {answer.status_code} in {took * 1000:,.0f} ms")
            if answer.status_code in (401, 403) or 300 <= answer.status_code < 400:
                sys.exit(f"GET {path}: {answer.status_code}: the bench's credentials were "
                         f"refused ({answer.headers.get('location') or answer.text[:300]})")
            if answer.status_code >= 400:
                note(f"  {answer.text[:300]}")


# --- the report ------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def verdict(phase: dict[str, Any]) -> str:
    if phase["phase"] == "load":
        ok = (phase["requests_per_second"] >= 50 and (phase["p95"] or 1e9) < 300
              and phase["errors"] == 0)
    elif phase["phase"] == "refresh":
        ok = (phase["p95"] or 1e9) < 1000 and phase["errors"] == 0 and phase["requests"] > 0
    else:
        return ""
    return f"{TARGETS[phase['phase']]}: {'meets' if ok else '**misses**'}"


def show(result: dict[str, Any]) -> None:
    phases = result["phases"]
    table = Table(title=f"csmetrics serve under load ({result['customers']:,}-customer demo)")
    for column in ("phase", "clients", "s", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms",
                   "max ms", "errors", "server CPU", "target"):
        table.add_column(column, justify="left" if column in ("phase", "target") else "right")
    for p in phases:
        table.add_row(p["label"], str(p["clients"]), f"{p['seconds']:.1f}", f"{p['requests']:,}",
                      f"{p['requests_per_second']:.1f}", ms(p["p50"]), ms(p["p95"]),
                      ms(p["p99"]), ms(p["max"]), str(p["errors"]),
                      f"{p['server_cpu'] * 100:.0f} %", verdict(p).rpartition(": ")[2].strip("*"))
    console.print(table)
    console.print(f"targets: {bare(TARGETS['load'])} with {phases[1]['clients']} clients; "
                  f"{bare(TARGETS['refresh'])} while the refresh runs", highlight=False)
    table = Table(title="per endpoint: p50 / p95 ms (requests, errors)")
    table.add_column("endpoint")
    for p in phases:
        table.add_column(p["label"], justify="right")
    for kind in KINDS:
        table.add_row(kind, *[endpoint(p["endpoints"][kind]) for p in phases])
    console.print(table)
    for p in phases:
        for key, seen in p["error_kinds"].items():
            console.print(f"[bold]{p['label']}[/]: {seen['count']} x {key} "
                          f"(e.g. {seen['path']}): {seen['sample'][:200]}", highlight=False)
    refresh = phases[-1]["refresh"]
    if refresh:
        console.print(f"refresh: {refresh['via']}, {refresh['seconds']:.1f} s under load "
                      f"({refresh.get('alone_seconds', 0):.1f} s alone), "
                      f"{'ok' if refresh['ok'] else 'FAILED'}: "
                      f"{headline(refresh['output'])}",
                      highlight=False)
    console.print(f"results: {RESULTS}")


def headline(output: str) -> str:
    """The line of a refresh's output that says what it did (else its last line)."""
    lines = output.splitlines() or [""]
    return next((line for line in lines if line.startswith("Refreshed")), lines[-1])[:300]


def bare(text: str) -> str:
    """A target without its "target " prefix."""
    return text.removeprefix("target ")


def endpoint(figures: dict[str, Any]) -> str:
    errors = f", {figures['errors']} err" if figures["errors"] else ""
    return f"{ms(figures['p50'])} / {ms(figures['p95'])} ({figures['requests']:,}{errors})"


INCREMENTAL = (" (incremental: after the setup's refresh it recomputes no metric, only the "
               "health snapshot and the alert rules)")


def markdown(result: dict[str, Any]) -> str:
    phases = result["phases"]
    refresh = phases[-1]["refresh"] or {}
    lines = [
        "## Server under load", "",
        f"Command: `{result['command']}` ({result['customers']:,}-customer demo, {MONTHS} "
        f"months to {END}, after a refresh; clock {NOW}; mix in equal parts: dashboard "
        f"overview (signed in), `GET /api/v1/metrics/{{kpi}}` by month over the "
        f"{MONTHS} months, `GET /api/v1/customers`, `GET /api/v1/customers/{{id}}` of random "
        f"customers, `GET /api/v1/health`; closed loop, no think time; run took "
        f"{result['run_minutes']:.1f} min).",
        f"Machine: {result['machine']}. The load generator is its own process "
        f"(httpx, asyncio; {max((p['client_cpu'] or 0) for p in phases) * 100:.0f} % of a "
        f"core at most); server CPU 100 % = one core. The refresh phase counts the requests "
        f"that started while `{refresh.get('via', '-')}` ran: {refresh.get('seconds', 0):.1f} "
        f"s under load, {refresh.get('alone_seconds', 0):.1f} s alone"
        f"{'' if refresh.get('ok', True) else ', FAILED'}"
        f"{'' if refresh.get('full', True) else INCREMENTAL}.",
        "", "| phase | clients | requests | req/s | p50 | p95 | p99 | max | errors | server CPU "
        "| target |", "|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {p['label']} | {p['clients']} | {p['requests']:,} | "
          f"{p['requests_per_second']:.1f} | {ms(p['p50'])} ms | {ms(p['p95'])} ms | "
          f"{ms(p['p99'])} ms | {ms(p['max'])} ms | {p['errors']} | "
          f"{p['server_cpu'] * 100:.0f} % | {verdict(p)} |" for p in phases],
        "", "| endpoint: p50 / p95 ms (requests) | " + " | ".join(p["label"] for p in phases)
        + " |", "|---" * (len(phases) + 1) + "|",
        *[f"| {kind} | " + " | ".join(endpoint(p["endpoints"][kind]) for p in phases) + " |"
          for kind in KINDS], "",
    ]
    return "\n".join(lines)


def machine() -> str:
    cores = os.cpu_count()
    return (f"{platform.machine()}, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, {cores} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of the load phase (one client alone: half of it)")
    parser.add_argument("--customers", type=int, default=2000, help="size of the demo")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached workspace")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--refresh-via", choices=("auto", "cli", "api"), default="auto",
                        help="phase 3's refresh: 'csmetrics refresh --full' beside the server "
                        "(cli), POST /api/v1/refresh (api, incremental), or the CLI with the "
                        "API as fallback (auto)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print a markdown table for docs/benchmarks.md")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main()
        return
    if not CLI.exists():
        sys.exit(f"{CLI} not found: run this with the project's venv (.venv/bin/python)")
    begun = time.perf_counter()
    marker = prepare(args.customers, args.rebuild)
    root = fresh_copy()
    command = (f"python bench/serve.py --clients {args.clients} --seconds {args.seconds:g} "
               f"--customers {args.customers}"
               + (f" --refresh-via {args.refresh_via}" if args.refresh_via != "auto" else ""))
    with Server(root, args.port or free_port()) as server:
        config = {"url": server.url, "token": marker["token"],
                  "cookie": sign_in(server.url, marker["username"], marker["password"]),
                  "ids": customer_ids(server.url, marker["token"])}
        warm_up(server.url, config)
        phases = []
        for name, label, clients, seconds in (
                ("alone", "one client", 1, args.seconds / 2),
                ("load", f"{args.clients} clients", args.clients, args.seconds)):
            note(f"phase: {label} for {seconds:g} s ...")
            output, window, cpu = drive(server, {**config, "clients": clients,
                                                 "seed": len(phases) + 1}, seconds)
            phases.append(summarise(name, label, clients, output, window, cpu))
        refresh = Refresher(server, root, marker["token"], args.refresh_via)
        note("refresh: alone (its time without load) ...")
        alone = refresh().refresh
        note(f"phase: {args.clients} clients during a refresh ...")
        output, window, cpu = drive(server, {**config, "clients": args.clients, "seed": 3}, None,
                                    refresh)
        phases.append(summarise("refresh", f"{args.clients} clients, refresh running",
                                args.clients, output, window, cpu))
        assert window.refresh is not None and alone is not None
        window.refresh["alone_seconds"] = alone["seconds"]
    result = {"command": command, "argv": sys.argv[1:], "customers": args.customers,
              "clients": args.clients, "seconds": args.seconds, "end": END, "now": NOW,
              "machine": machine(), "run_minutes": (time.perf_counter() - begun) / 60,
              "phases": phases}
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    show(result)
    if args.markdown:
        sys.stdout.write("\n" + markdown(result) + "\n")


if __name__ == "__main__":
    main()
