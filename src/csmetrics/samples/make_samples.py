"""Write the sample exports of this folder: one small made-up SaaS company, as its tools export it.

Run once (``python -m csmetrics.samples.make_samples``) and commit the CSV files; tests read the
committed files, never this script. Same seed, same files.

The company ("Northwind Desk", 60 customers, USD) sells three plans, each monthly or annual:

=========  ========  =========
product    monthly   annual
=========  ========  =========
Starter    49.00     490.00
Growth     199.00    1,990.00
Scale      499.00    4,990.00
=========  ========  =========

Its data runs from 2025-01-01 to 2026-06-30 and holds new customers every month, upgrades
(expansion), downgrades (contraction), churn, one reactivation, annual plans renewing in the 90
days after the data end, invoices, support tickets and NPS answers; no product usage events.

Files, named by tool (the mapping beside each says how it maps onto csmetrics' tables):

- ``stripe_subscriptions.csv`` (+ ``.toml``) -> subscriptions
- ``stripe_invoices.csv`` (+ ``.toml``) -> orders
- ``hubspot_companies.csv`` (+ ``.toml``) -> customers
- ``zendesk_tickets.csv`` (+ ``.toml``) -> tickets
- ``nps_responses.csv`` (+ ``.toml``) -> survey_responses

Every tool carries the Stripe customer id (``cus_...``) as the customer's key: HubSpot's Stripe
integration syncs it into a company property, Zendesk and the NPS tool get it as a custom field.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
SEED = 2026
FIRST_DAY = date(2025, 1, 1)
LAST_DAY = date(2026, 6, 30)
CUSTOMERS = 60
PRICES = {("Starter", "month"): 49, ("Growth", "month"): 199, ("Scale", "month"): 499,
          ("Starter", "year"): 490, ("Growth", "year"): 1990, ("Scale", "year"): 4990}
ORDER = ["Starter", "Growth", "Scale"]
OWNERS = ["Maria Lopez", "Sam Okafor", "Jin Park"]
INDUSTRIES = ["Computer Software", "Financial Services", "Retail", "Hospital & Health Care",
              "Marketing and Advertising", "Logistics and Supply Chain"]
COUNTRIES = ["United States", "United States", "United States", "Canada", "United Kingdom",
             "Germany", "Australia"]
WORDS = ["Acme", "Blue", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Indigo",
         "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer", "Quartz", "Raven",
         "Summit", "Tidal", "Umber", "Vertex", "Willow", "Xenon", "Yonder", "Zephyr"]
SUFFIXES = ["Labs", "Logistics", "Health", "Retail", "Analytics", "Studio", "Foods", "Works"]
SUBJECTS = ["Cannot log in", "Invoice question", "Export to CSV fails", "How do I add a user?",
            "Report shows wrong totals", "Feature request: SSO", "Slow dashboard",
            "Change billing email", "Integration with Slack broken", "Password reset email missing"]
COMMENTS = {"promoter": ["Love the reports", "Support is fast and friendly", "Saves us hours",
                         ""],
            "passive": ["Good, but pricey", "Missing a few integrations", ""],
            "detractor": ["Too many bugs lately", "Support took days to reply",
                          "Hard to set up", ""]}


@dataclass
class Line:
    """One Stripe subscription: a product at a price from ``start`` until ``end`` (or open)."""

    sub_id: str
    customer: str
    product: str
    interval: str
    start: datetime
    end: datetime | None = None
    canceled: datetime | None = None
    past_due: bool = False


def add_months(day: date, months: int) -> date:
    """``day`` ``months`` later, on the same day of the month (or its last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError(day)


def at(day: date, rng: random.Random) -> datetime:
    """A time of day during office hours on ``day``."""
    return datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59))


def stamp(moment: datetime | None) -> str:
    """Stripe's and HubSpot's export spelling of a time: ``2025-01-14 09:32``."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def ident(prefix: str, rng: random.Random, length: int = 14) -> str:
    """A Stripe-style identifier, e.g. ``cus_Q3xa81LmZ0pTqe``."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def company() -> tuple[list[dict], list[Line]]:
    """The customers (id, name, start...) and their subscription lines."""
    rng = random.Random(SEED)
    customers: list[dict] = []
    lines: list[Line] = []
    names: set[str] = set()
    for index in range(CUSTOMERS):
        while True:
            name = f"{rng.choice(WORDS)} {rng.choice(SUFFIXES)}"
            if name not in names:
                names.add(name)
                break
        # a third on day one, the rest spread over the following 17 months
        if index < 20:
            first = FIRST_DAY + timedelta(days=rng.randint(0, 20))
        else:
            first = FIRST_DAY + timedelta(days=rng.randint(25, (LAST_DAY - FIRST_DAY).days - 10))
        # annual plans for a third, several started in July-September 2025 (renew in the 90
        # days after the data end)
        if index % 3 == 0:
            interval = "year"
            if index % 2 == 0:
                first = date(2025, rng.randint(7, 9), rng.randint(1, 28))
        else:
            interval = "month"
        customer_id = ident("cus_", rng)
        domain = name.lower().replace(" ", "") + ".com"
        customers.append({"id": customer_id, "name": name, "domain": domain,
                          "first": first, "index": index})
        product = rng.choices(ORDER, weights=[5, 3, 1])[0]
        start = at(first, rng)
        lines.append(Line(ident("sub_", rng), customer_id, product, interval, start))
    # what happens to the monthly customers: (kind, count)
    monthly = [c for c in customers if lines[c["index"]].interval == "month"
               and c["first"] < date(2025, 12, 1)]
    rng.shuffle(monthly)
    upgrades, downgrades, churns = monthly[:8], monthly[8:12], monthly[12:19]
    for c in upgrades + downgrades:
        line = lines[c["index"]]
        position = ORDER.index(line.product)
        step = 1 if c in upgrades else -1
        if not 0 <= position + step < len(ORDER):
            step = -step
        change = add_months(line.start.date(), rng.randint(3, 8))
        if change >= LAST_DAY:
            continue
        moment = at(change, rng)
        line.end, line.canceled = moment, moment
        lines.append(Line(ident("sub_", rng), c["id"],
                          ORDER[position + step], "month", moment))
    for n, c in enumerate(churns):
        line = lines[c["index"]]
        ends = add_months(line.start.date(), rng.randint(3, 10))
        if ends >= LAST_DAY:
            ends = LAST_DAY - timedelta(days=20)
        line.end = at(ends, rng)
        line.canceled = line.end - timedelta(days=rng.randint(3, 20))
        if n == 0:  # the reactivation: back four months later, on Growth
            back = at(add_months(ends, 4), rng)
            lines.append(Line(ident("sub_", rng), c["id"], "Growth", "month", back))
    # one annual customer does not renew: ends on its first anniversary
    annual = [c for c in customers if lines[c["index"]].interval == "year"
              and c["first"] < date(2025, 5, 1)]
    gone = annual[0]
    line = lines[gone["index"]]
    line.end = at(add_months(line.start.date(), 12), rng)
    line.canceled = line.end - timedelta(days=30)
    # one open monthly subscription is past due
    for line in lines:
        if line.interval == "month" and line.end is None:
            line.past_due = True
            break
    lines.sort(key=lambda x: x.start)
    return customers, lines


def periods(line: Line) -> list[date]:
    """The first day of every billing period of ``line`` up to the data end."""
    months = 12 if line.interval == "year" else 1
    days, n = [], 0
    while True:
        day = add_months(line.start.date(), months * n)
        if day > LAST_DAY or (line.end is not None and day >= line.end.date()):
            return days
        days.append(day)
        n += 1


def write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A CSV file with ``header`` and ``rows``, as the tools write them (comma, quoted when
    needed, Unix line ends)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def main() -> None:
    """Write every sample file into this folder."""
    rng = random.Random(SEED + 1)
    customers, lines = company()
    email = {c["id"]: f"billing@{c['domain']}" for c in customers}

    rows = []
    for line in lines:
        starts = periods(line)
        current = starts[-1] if starts else line.start.date()
        months = 12 if line.interval == "year" else 1
        status = "canceled" if line.end else "past_due" if line.past_due else "active"
        rows.append([
            line.sub_id, line.customer, email[line.customer],
            f"{line.product.lower()}-{line.interval}ly", line.product, 1, line.interval,
            f"{PRICES[line.product, line.interval]:.2f}", "usd", status, stamp(line.start),
            stamp(line.start), stamp(datetime.combine(current, line.start.time())),
            stamp(datetime.combine(add_months(current, months), line.start.time())),
            stamp(line.canceled), stamp(line.end),
        ])
    write(HERE / "stripe_subscriptions.csv",
          ["id", "Customer ID", "Customer Email", "Plan", "Product", "Quantity", "Interval",
           "Amount", "Currency", "Status", "Created (UTC)", "Start (UTC)",
           "Current Period Start (UTC)", "Current Period End (UTC)", "Canceled At (UTC)",
           "Ended At (UTC)"], rows)

    invoices = []
    for line in lines:
        for n, day in enumerate(periods(line)):
            price = PRICES[line.product, line.interval]
            last_open = line.past_due and day == periods(line)[-1]
            status = "open" if last_open else "uncollectible" if rng.random() < 0.02 else "paid"
            moment = datetime.combine(day, line.start.time())
            invoices.append((moment, [
                ident("in_", rng), f"{line.sub_id[4:12].upper()}-{n + 1:04d}", line.customer,
                email[line.customer], line.sub_id, f"{price:.2f}",
                f"{price if status == 'paid' else 0:.2f}", f"{price:.2f}", "usd", status,
                stamp(moment),
            ]))
    invoices.sort(key=lambda x: x[0])
    write(HERE / "stripe_invoices.csv",
          ["id", "Number", "Customer", "Customer Email", "Subscription", "Amount Due",
           "Amount Paid", "Total", "Currency", "Status", "Date (UTC)"],
          [row for _, row in invoices])

    companies = []
    for n, c in enumerate(customers):
        created = at(c["first"] - timedelta(days=rng.randint(10, 90)), rng)
        became = datetime.combine(c["first"], datetime.min.time())
        companies.append([
            str(9_100_000_000 + 7919 * n), c["name"], c["domain"], OWNERS[n % len(OWNERS)],
            stamp(created), became.strftime("%m/%d/%Y"), rng.choice(INDUSTRIES),
            rng.choice(COUNTRIES), rng.choice([8, 15, 40, 75, 120, 300, 800]), "Customer",
            c["id"],
        ])
    write(HERE / "hubspot_companies.csv",
          ["Record ID", "Company name", "Company Domain Name", "Company owner", "Create Date",
           "Became a Customer Date", "Industry", "Country/Region", "Number of Employees",
           "Lifecycle Stage", "Stripe Customer ID"], companies)

    tickets = []
    for c in customers:
        for _ in range(rng.randint(0, 6)):
            start = max(c["first"], FIRST_DAY)
            opened = at(start + timedelta(days=rng.randint(0, (LAST_DAY - start).days)), rng)
            reply = rng.choice([12, 35, 60, 95, 180, 240, 600, 1440])
            solved = opened + timedelta(minutes=reply + rng.randint(30, 4000))
            open_now = solved.date() > LAST_DAY or rng.random() < 0.08
            tickets.append((opened, [
                f"{rng.choice(['Alex', 'Jo', 'Priya', 'Tom', 'Ana'])} "
                f"{rng.choice(['Smith', 'Ng', 'Garcia', 'Brown'])}", c["name"],
                rng.choice(SUBJECTS), "Open" if open_now else rng.choice(["Solved", "Closed"]),
                rng.choices(["Low", "Normal", "High", "Urgent"], weights=[3, 6, 2, 1])[0],
                opened.strftime("%Y-%m-%d %H:%M:%S"),
                "" if open_now else solved.strftime("%Y-%m-%d %H:%M:%S"), reply,
                rng.choice(["Good", "Good", "Bad", "Offered", "Unoffered"]), c["id"],
            ]))
    tickets.sort(key=lambda x: x[0])
    write(HERE / "zendesk_tickets.csv",
          ["Id", "Requester", "Organization", "Subject", "Status", "Priority", "Created at",
           "Solved at", "First reply time in minutes", "Satisfaction Score",
           "Stripe Customer ID"], [[1001 + n, *row] for n, (_, row) in enumerate(tickets)])

    answers = []
    for c in customers:
        if rng.random() < 0.2:
            continue
        for _ in range(rng.randint(1, 3)):
            start = max(c["first"], FIRST_DAY)
            day = start + timedelta(days=rng.randint(14, max(15, (LAST_DAY - start).days)))
            if day > LAST_DAY:
                continue
            score = rng.choices(range(11), weights=[1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 8])[0]
            kind = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            moment = at(day, rng)
            answers.append((moment, (moment.strftime("%d/%m/%Y %H:%M"), score,
                                     rng.choice(COMMENTS[kind]), c)))
    answers.sort(key=lambda x: x[0])
    nps = []
    for n, (_moment, (when, score, comment, c)) in enumerate(answers, start=1):
        person = rng.choice(["alex", "jo", "priya", "tom", "ana", "lee"])
        nps.append([f"R{n:05d}", f"{person}@{c['domain']}", c["name"], score, comment, when,
                    c["id"]])
    write(HERE / "nps_responses.csv",
          ["Response ID", "Email", "Company", "Score", "Comment", "Date", "Stripe Customer ID"],
          nps)
    print(f"{len(customers)} customers, {len(lines)} subscriptions, {len(invoices)} invoices, "
          f"{len(tickets)} tickets, {len(nps)} NPS answers in {HERE}")


if __name__ == "__main__":
    main()
