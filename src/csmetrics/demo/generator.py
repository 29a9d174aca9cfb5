"""A synthetic SaaS company, written as files in the canonical format.

``write_company`` simulates a subscription business month by month. Customers sign up with a
seasonal rhythm (busy in the first quarter and in September), pay per seat for one of four plans
(monthly, quarterly or yearly, in USD or EUR), add and remove seats, move between plans, churn
and sometimes come back. A hidden health value per customer and month drives all of it: the
churn probability, and the signals a customer-success team sees first (product usage, support
tickets, survey answers, the tone of conversations with the CSM). Before most churns health
falls for one to three months, so the signals lead churn as they do in real data, with noise:
some churns come without warning and some healthy customers have a bad month.

Work is vectorised over chunks of customers and streamed to disk chunk by chunk, so 200,000
customers over 36 months fit in well under a gigabyte. The same arguments always give
byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from csmetrics.clock import Clock, default_clock
from csmetrics.errors import InternalError, UserInputError
from csmetrics.schema.tables import TABLES, DType, Table

__all__ = ["LOAD_ORDER", "write_company"]

#: The order in which the tables are written into the returned mapping and should be loaded.
LOAD_ORDER = (
    "customers", "exchange_rates", "subscriptions", "orders", "tickets", "survey_responses",
    "usage_events", "activities", "feedback", "leads", "traffic", "costs",
)
#: Tables written as several numbered files (``usage_events-000.parquet``, ...), one per chunk.
SPLIT_TABLES = ("usage_events",)
#: Customers simulated together; bounds memory (about 1.5 million usage rows per chunk).
CHUNK_CUSTOMERS = 10_000

# --------------------------------------------------------------------------------------------
# The company: its catalogue, markets, people and habits
# --------------------------------------------------------------------------------------------

PLANS = ("free", "starter", "growth", "business", "enterprise")
#: List price per seat and month, by currency (row 0 USD, row 1 EUR) and plan.
SEAT_PRICE = np.array([[0, 15, 35, 60, 95], [0, 14, 32, 55, 88]], dtype=np.float64)
INTERVALS = ("month", "quarter", "year")
INTERVAL_MONTHS = np.array([1, 3, 12])
#: Price of one billing interval in list months: quarterly saves 5 %, yearly 17 %.
INTERVAL_PRICE_MONTHS = np.array([1.0, 3 * 0.95, 12 * 0.83])
CURRENCIES = ("USD", "EUR")

TIERS = ("smb", "mid_market", "enterprise")
TIER_SHARE = (0.66, 0.26, 0.08)
#: Median and spread (log scale) of licensed seats, and the range they are clipped to.
TIER_SEATS = ((6, 0.6, 1, 40), (35, 0.5, 10, 250), (220, 0.6, 60, 3000))
#: Probability of each plan (free ... enterprise) by tier.
TIER_PLAN = np.array([
    [0.04, 0.56, 0.32, 0.08, 0.00],
    [0.00, 0.08, 0.42, 0.45, 0.05],
    [0.00, 0.00, 0.05, 0.35, 0.60],
])
#: Probability of monthly, quarterly and yearly billing by tier.
TIER_INTERVAL = np.array([[0.72, 0.08, 0.20], [0.40, 0.15, 0.45], [0.05, 0.10, 0.85]])
#: Largest negotiated discount by tier (drawn uniformly from zero up to it).
TIER_DISCOUNT = np.array([0.0, 0.10, 0.25])
#: Monthly churn probability at average health, by tier.
TIER_CHURN = np.array([0.020, 0.011, 0.005])
TIER_HEALTH = np.array([-0.1, 0.1, 0.35])
#: Probability that a new customer cancels within weeks, by tier.
TIER_QUICK_CANCEL = np.array([0.06, 0.025, 0.005])
TIER_ONBOARDING = np.array([0.15, 0.55, 0.90])
#: CSM touches per customer-month, by tier.
TIER_TOUCHES = np.array([0.08, 0.35, 1.2])

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
REGION_SHARE = (0.45, 0.30, 0.15, 0.10)
REGION_HEALTH = np.array([0.0, 0.05, -0.05, -0.15])
#: (ISO code, region index, weight in its region, legal suffix, cities for public reviews)
COUNTRIES = (
    ("US", 0, 8, "Inc", ("New York", "San Francisco", "Chicago", "Austin", "Seattle", "Boston")),
    ("CA", 0, 2, "Inc", ("Toronto", "Vancouver", "Montreal")),
    ("GB", 1, 3, "Ltd", ("London", "Manchester", "Edinburgh")),
    ("DE", 1, 3, "GmbH", ("Berlin", "Munich", "Hamburg")),
    ("FR", 1, 2, "SAS", ("Paris", "Lyon")),
    ("NL", 1, 1.5, "B.V.", ("Amsterdam", "Rotterdam")),
    ("ES", 1, 1, "S.L.", ("Madrid", "Barcelona")),
    ("IE", 1, 0.8, "Ltd", ("Dublin",)),
    ("SE", 1, 0.8, "AB", ("Stockholm", "Gothenburg")),
    ("AU", 2, 3, "Pty Ltd", ("Sydney", "Melbourne")),
    ("JP", 2, 2, "K.K.", ("Tokyo", "Osaka")),
    ("SG", 2, 2, "Pte Ltd", ("Singapore",)),
    ("IN", 2, 2, "Pvt Ltd", ("Bengaluru", "Mumbai")),
    ("NZ", 2, 0.6, "Ltd", ("Auckland",)),
    ("BR", 3, 4, "Ltda", ("São Paulo", "Rio de Janeiro")),
    ("MX", 3, 3, "S.A. de C.V.", ("Mexico City", "Monterrey")),
    ("AR", 3, 1.2, "S.A.", ("Buenos Aires",)),
    ("CL", 3, 1, "SpA", ("Santiago",)),
    ("CO", 3, 1, "S.A.S.", ("Bogotá", "Medellín")),
)
EURO_COUNTRIES = ("DE", "FR", "NL", "ES", "IE")
#: Share of customers in a euro country who are billed in EUR.
EUR_SHARE = 0.75

INDUSTRIES = (
    "software", "fintech", "healthcare", "retail", "manufacturing", "education", "media",
    "logistics", "professional_services", "nonprofit",
)
INDUSTRY_SHARE = (0.22, 0.1, 0.1, 0.1, 0.09, 0.08, 0.08, 0.08, 0.1, 0.05)

CHANNELS = ("organic", "paid_search", "outbound", "partner", "referral", "events")
REFERRAL = CHANNELS.index("referral")
TIER_CHANNEL = np.array([
    [0.36, 0.28, 0.06, 0.08, 0.16, 0.06],
    [0.22, 0.16, 0.24, 0.12, 0.14, 0.12],
    [0.08, 0.04, 0.42, 0.18, 0.12, 0.16],
])
CHANNEL_HEALTH = np.array([0.1, -0.25, 0.0, 0.1, 0.35, 0.0])
#: Share of a channel's leads that become customers.
CHANNEL_CONVERSION = np.array([0.12, 0.07, 0.05, 0.20, 0.30, 0.08])
#: Website visitors per lead, by channel (the denominator of web conversion rates).
CHANNEL_VISITORS = np.array([30.0, 20.0, 2.0, 10.0, 6.0, 4.0])
#: Median days from lead to signup, by channel.
CHANNEL_LEAD_DAYS = np.array([14.0, 10.0, 45.0, 30.0, 7.0, 40.0])
#: Sales and marketing spend per new customer, in months of that customer's first MRR.
CHANNEL_CAC_MONTHS = np.array([4.0, 8.0, 12.0, 7.0, 2.5, 10.0])
#: Share of that spend booked as marketing (the rest is sales).
CHANNEL_MARKETING_SHARE = np.array([0.8, 0.85, 0.2, 0.4, 0.6, 0.75])
#: Event spend by calendar month: conferences in March, June and October.
EVENT_SEASON = np.array([0.5, 0.6, 2.6, 0.6, 0.6, 2.2, 0.3, 0.3, 0.8, 2.4, 0.8, 0.3])

#: Customer-success managers: (name, region index, effect on their customers' health).
CSMS = (
    ("Maya Patel", 0, 0.05), ("Liam O'Connor", 0, 0.30), ("Grace Kim", 0, 0.0),
    ("Jonas Weber", 1, 0.1), ("Sofia Rossi", 1, 0.0), ("Noah Fischer", 1, -0.30),
    ("Aiko Tanaka", 2, 0.05), ("Carlos Mendes", 3, -0.05),
)
#: Support agents: (name, chance to resolve at first contact, response-time factor).
AGENTS = (
    ("Ava Johnson", 0.80, 0.8), ("Ben Carter", 0.72, 1.0), ("Chloe Martin", 0.76, 0.9),
    ("Diego Alvarez", 0.68, 1.1), ("Emma Schulz", 0.84, 0.7), ("Farah Khan", 0.74, 1.0),
    ("George Li", 0.62, 1.3), ("Hannah Berg", 0.78, 0.9), ("Ivan Petrov", 0.58, 1.4),
    ("Julia Costa", 0.72, 1.0),
)
EMPLOYEES = tuple(c[0] for c in CSMS) + tuple(a[0] for a in AGENTS)
#: Mean rating (1-5) customers give each employee at the start of the window.
EMPLOYEE_RATING = np.array(
    [4.4, 4.6, 4.3, 4.4, 4.2, 4.4, 4.5, 4.2, 4.5, 4.2, 4.3, 4.1, 4.6, 4.3, 4.0, 4.4, 4.5, 4.2]
)
#: How far each employee's mean rating falls by the end of the window (Noah and Ivan slip).
EMPLOYEE_DECLINE = np.array([0, 0, 0, 0, 0, 1.8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.8, 0])

#: Product features: (event, adoption chance, uses per active user-day, units per use,
#: seconds per unit). Login happens on every active user-day.
FEATURES = (
    ("login", 1.00, 1.00, 1.3, 20.0),
    ("dashboard_view", 0.97, 0.55, 2.5, 45.0),
    ("search", 0.80, 0.25, 2.0, 10.0),
    ("report_export", 0.60, 0.18, 1.4, 30.0),
    ("comment", 0.55, 0.22, 1.8, 25.0),
    ("integration_sync", 0.45, 0.25, 3.0, 5.0),
    ("api_call", 0.35, 0.25, 40.0, 0.2),
    ("invite_user", 0.70, 0.03, 1.2, 40.0),
    ("alert_configured", 0.40, 0.04, 1.1, 60.0),
    ("workflow_run", 0.45, 0.22, 2.5, 15.0),
    ("billing_view", 0.50, 0.02, 1.0, 30.0),
    ("mobile_session", 0.35, 0.15, 1.5, 180.0),
)
#: Adoption multiplier by plan (free ... enterprise) for the features bigger plans unlock.
PLAN_FEATURE_BOOST = {
    "integration_sync": (0.2, 0.4, 1.0, 1.4, 1.6),
    "api_call": (0.1, 0.3, 0.8, 1.6, 1.9),
    "workflow_run": (0.2, 0.4, 1.0, 1.4, 1.6),
}
#: Features every user touches; the others narrow when a customer's health falls.
CORE_FEATURES = ("login", "dashboard_view", "search")
#: Usage by calendar month: quieter in summer and December.
USAGE_SEASON = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.97, 0.92, 0.88, 1.0, 1.0, 1.0, 0.85])
#: Active user-days per customer-month of an average customer at average health.
USER_DAYS_PER_MONTH = 0.85

TICKET_CHANNELS = ("email", "chat", "web", "phone")
TICKET_CHANNEL_SHARE = (0.40, 0.30, 0.18, 0.12)
#: Response-time factor by ticket channel (phone is answered at once).
TICKET_CHANNEL_SPEED = np.array([1.0, 0.15, 1.0, 0.05])
CATEGORIES = ("billing", "bug", "how_to", "integration", "performance", "account")
CATEGORY_SHARE = np.array([0.12, 0.20, 0.30, 0.14, 0.10, 0.14])
#: How much more often a category comes up as health falls (0 = not at all).
CATEGORY_HEALTH = np.array([0.2, 0.5, 0.0, 0.4, 0.5, 0.1])
#: Lower chance of first-contact resolution by category.
CATEGORY_FCR = np.array([0.0, -0.12, 0.08, -0.10, -0.10, 0.05])
#: Median hours from first response to resolution by category.
CATEGORY_HOURS = np.array([8.0, 36.0, 3.0, 24.0, 30.0, 6.0])
PRIORITIES = ("low", "normal", "high", "urgent")
#: Priority mix by tier (bigger customers escalate more).
TIER_PRIORITY = np.array([[0.30, 0.52, 0.15, 0.03], [0.22, 0.50, 0.22, 0.06],
                          [0.12, 0.45, 0.30, 0.13]])
#: Median hours to first response by priority.
PRIORITY_HOURS = np.array([10.0, 4.0, 1.5, 0.5])
#: Support tickets per customer-month of an average customer at average health.
TICKETS_PER_MONTH = 0.19

ACTIVITY_KINDS = ("call", "meeting", "email", "check_in", "qbr")
ACTIVITY_SHARE = np.array([0.22, 0.14, 0.38, 0.20, 0.06])
SENTIMENTS = ("negative", "neutral", "positive")

SURVEYS = ("nps", "csat", "ces", "employee_review", "public_review", "check_in")
SURVEY_SCALE = np.array([10, 5, 7, 5, 5, 10])
SURVEY_LOWEST = np.array([0, 1, 1, 1, 1, 0])
#: Scores at or above are positive, at or below are negative (the rest neutral).
SURVEY_POSITIVE = np.array([9, 4, 6, 4, 4, 9])
SURVEY_NEGATIVE = np.array([6, 2, 3, 2, 2, 6])
#: Share of answers that come with a comment.
SURVEY_COMMENT = np.array([0.4, 0.3, 0.25, 0.3, 0.85, 0.5])
TOUCHPOINTS = (
    "relationship", "support", "onboarding", "billing", "integration_setup", "account_management",
    "check_in", "g2", "capterra", "trustradius", "google",
)
CES_TOUCHPOINTS = (2, 1, 3, 4)  # onboarding, support, billing, integration_setup
REVIEW_SITES = (7, 8, 9, 10)

THEMES = (
    "onboarding", "pricing", "performance", "reporting", "support", "integrations", "usability",
    "reliability",
)
THEME_SHARE = np.array([0.1, 0.14, 0.12, 0.16, 0.14, 0.12, 0.12, 0.10])
#: The comment theme a ticket category leads to (billing -> pricing, bug -> reliability ...).
CATEGORY_THEME = np.array([1, 7, 6, 5, 2, 4])
#: The comment theme of each CES touchpoint, in CES_TOUCHPOINTS order.
CES_THEME = np.array([0, 4, 1, 5])

ORDER_KINDS = ("product", "services", "add-on")
ORDER_STATUSES = ("paid", "refunded", "failed")
FEEDBACK_KINDS = ("feature_request", "idea", "complaint", "praise")
FEEDBACK_STATUSES = ("open", "planned", "in_progress", "shipped", "declined")
FEEDBACK_SOURCES = ("portal", "email", "call", "qbr", "support_ticket", "community")

# --------------------------------------------------------------------------------------------
# Words: comments, notes and feedback are assembled from these, so texts vary like real ones
# --------------------------------------------------------------------------------------------

#: What customers say about each theme, by sentiment (negative, neutral, positive).
THEME_SENTENCES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "onboarding": (
        ("Onboarding dragged on for months and we are still not fully live.",
         "Nobody explained how to set up the workspace properly.",
         "The onboarding calls kept getting rescheduled.",
         "We were left alone after the kickoff and lost momentum.",
         "Setup was confusing and half the team gave up."),
        ("Onboarding was fine, though a few steps were unclear.",
         "Setup took longer than we planned but we got there.",
         "The onboarding material covers the basics; advanced topics less so.",
         "Rollout went okay once we had the right admin in place.",
         "Getting the first dashboards live took some back and forth."),
        ("Onboarding was smooth and our team was live within two weeks.",
         "The onboarding sessions got everyone up to speed quickly.",
         "Setup was painless and the kickoff call answered all our questions.",
         "Our onboarding manager made the rollout easy for the whole team.",
         "Getting started took days, not weeks."),
    ),
    "pricing": (
        ("Too expensive for how much we actually use it.",
         "The renewal quote was far above what we budgeted.",
         "We pay for seats nobody uses and cannot reduce them mid-term.",
         "Charging extra for basic features is frustrating.",
         "Finance is asking us to find a cheaper alternative."),
        ("Pricing is acceptable but the annual increase stung a little.",
         "It is not cheap, but it is in line with the market.",
         "We would like more flexible seat bundles.",
         "The jump to the next plan feels steep.",
         "Value for money is okay, nothing special."),
        ("The price is fair for what we get.",
         "Good value compared with the tools we used before.",
         "Pricing is transparent and easy to justify internally.",
         "Per-seat pricing works well for a team our size.",
         "We get a lot of value for the money."),
    ),
    "performance": (
        ("Dashboards take forever to load.",
         "The app slows to a crawl every Monday morning.",
         "Exports time out on anything bigger than a few thousand rows.",
         "We lose time every day waiting for pages to load.",
         "Performance has gotten worse over the last few months."),
        ("Mostly fast, though large exports can be slow.",
         "Performance is fine outside of month-end peaks.",
         "Some dashboards take a while to load but it is workable.",
         "Speed is acceptable for day-to-day work.",
         "Occasional slowdowns, nothing blocking."),
        ("Everything loads fast, even our biggest dashboards.",
         "Performance has been excellent since the last update.",
         "Reports that used to take minutes now run in seconds.",
         "The app is snappy and never gets in the way.",
         "Speed is one of the reasons we chose you."),
    ),
    "reporting": (
        ("We cannot build the reports our board asks for.",
         "The numbers in the reports do not match our own data.",
         "Reporting is too rigid for how we work.",
         "Exporting a simple report takes far too many clicks.",
         "Scheduled reports keep arriving empty."),
        ("Reports cover most of what we need.",
         "We still export to spreadsheets for some analyses.",
         "Reporting is decent but the filters could be better.",
         "Charts are fine; more chart types would help.",
         "The standard reports are good, custom ones take effort."),
        ("The reporting saves us hours every week.",
         "Our leadership loves the scheduled reports.",
         "Custom reports are flexible and easy to build.",
         "Finally one place for all our numbers.",
         "The dashboards give us exactly the view we need."),
    ),
    "support": (
        ("We waited days for a reply to an urgent ticket.",
         "Support keeps asking for the same information again.",
         "Our tickets get closed without a real fix.",
         "It takes several contacts to get anything resolved.",
         "We have not heard from our account manager in months."),
        ("Support is helpful but sometimes slow to reply.",
         "Answers are good once we reach the right person.",
         "Support resolved our issue after a couple of emails.",
         "Response times vary a lot.",
         "The help center covers most questions."),
        ("Support answered within minutes and fixed it right away.",
         "Your support team is friendly and knows the product inside out.",
         "Every ticket we opened was handled quickly.",
         "Our CSM is proactive and always has good advice.",
         "Great support, the best we have had from a vendor."),
    ),
    "integrations": (
        ("The CRM sync breaks every few days.",
         "Our integration stopped working after your last release.",
         "Missing a connector for our data warehouse is a deal breaker.",
         "The API returns errors we cannot debug.",
         "Data from the integration arrives duplicated."),
        ("Integrations cover the basics; we need a few more connectors.",
         "The API works but the rate limits are tight.",
         "The HubSpot sync needed some manual mapping.",
         "Integrations are fine once they are set up.",
         "Webhooks would make our workflow easier."),
        ("The Salesforce integration just works.",
         "Connecting our tools took minutes.",
         "The API is well documented and easy to use.",
         "Syncs with our CRM run reliably every night.",
         "The Slack notifications keep the whole team in the loop."),
    ),
    "usability": (
        ("The interface is confusing and cluttered.",
         "Simple tasks take far too many steps.",
         "Half our team refuses to use it because it is hard to learn.",
         "Permissions are a maze.",
         "The mobile app is nearly unusable."),
        ("Easy enough once you learn where things are.",
         "Some settings are buried too deep in menus.",
         "The interface is okay but a bit dated.",
         "New users need some time to find their way.",
         "Navigation could be simpler."),
        ("Intuitive and easy to use, even for new hires.",
         "The interface is clean and everything is where you expect it.",
         "Our team adopted it without any training.",
         "Workflows are simple to set up.",
         "Using it every day is a pleasure."),
    ),
    "reliability": (
        ("Another outage this week, during our busiest hours.",
         "Data went missing after the last incident.",
         "We cannot rely on it for anything time-critical.",
         "Bugs keep coming back after being fixed.",
         "Too many errors and failed jobs lately."),
        ("A couple of short outages, otherwise stable.",
         "Mostly reliable; the status page could be more detailed.",
         "Reliability is acceptable.",
         "We noticed a few sync delays but nothing was lost.",
         "Stable enough for daily use."),
        ("Rock solid, we have not had a single outage.",
         "It is always up when we need it.",
         "Very reliable, our data is always there.",
         "Uptime has been flawless this year.",
         "We trust it for our most critical processes."),
    ),
}
#: First and last sentences of a comment, by sentiment; empty strings mean none.
OPENERS = (
    ("", "", "Disappointed.", "Not happy.", "Frustrating experience.",
     "We are seriously reconsidering.", "This needs to change."),
    ("", "", "Mixed feelings.", "It does the job.", "Overall okay.", "Solid but not perfect.",
     "Room for improvement."),
    ("", "", "Really happy so far.", "Great experience overall.", "Love it!",
     "Big fan of the product.", "Very satisfied."),
)
CLOSERS = (
    ("", "", "Please fix this.", "We may not renew.", "Considering other vendors.",
     "Escalating this internally.", "Expected much better."),
    ("", "", "Would like to see improvements here.", "Hope this gets better.",
     "Curious about the roadmap.", "Still evaluating.", "Happy to share more details."),
    ("", "", "Keep it up!", "Would recommend to any team.", "Thanks to the whole team.",
     "Looking forward to what is next.", "Already recommended you to a partner."),
)
#: How a CSM's note starts, by activity kind.
NOTE_OPENERS = (
    ("Call with the admin", "Call with our champion", "Call with their ops lead"),
    ("Meeting with the team leads", "On-site meeting", "Meeting with the new sponsor"),
    ("Email thread with the admin", "Followed up by email", "Emailed the champion"),
    ("Monthly check-in", "Check-in call", "Quick check-in"),
    ("Quarterly business review", "QBR with leadership", "QBR"),
)
#: What the note says, by sentiment.
NOTE_BODIES = (
    ("frustrated about open bugs and slow support.",
     "champion left the company; new sponsor unconvinced.",
     "budget cuts, renewal at risk.",
     "usage dropped sharply; the team is evaluating alternatives.",
     "complained about price versus value.",
     "asked for an escalation over repeated outages."),
    ("walked through open tickets, no major concerns.",
     "reviewed adoption; a few features still unused.",
     "they asked about the roadmap and pricing.",
     "routine touch base, nothing new.",
     "agreed on training for new users.",
     "sponsor busy, rescheduled the deep dive."),
    ("usage is growing and they want to roll out to another team.",
     "very positive about the latest release.",
     "discussed expansion and a possible upgrade.",
     "they shared a success story we can use as a case study.",
     "renewal looks safe; sponsor is happy.",
     "adoption of reports and workflows is strong."),
)
#: Recurring feature requests, each in the different words customers use, and how often
#: the request comes up.
FEATURE_REQUESTS = (
    (6, ("SSO with Okta", "Single sign-on support", "Please add SAML single sign-on (Azure AD)",
         "Let our team log in through Okta", "We need SSO before we can roll out company-wide")),
    (4, ("Two-way Salesforce sync", "Push account health to Salesforce",
         "Salesforce integration for opportunities", "Sync our Salesforce fields automatically")),
    (4, ("Slack alerts when a metric drops", "Send notifications to Slack channels",
         "Slack integration for alerts", "Post weekly summaries to Slack")),
    (3, ("Export reports to Excel", "Download dashboards as XLSX", "Excel export with formatting",
         "Let us export raw data to a spreadsheet")),
    (3, ("Custom roles and permissions", "Read-only users", "Granular permissions per team",
         "Restrict who can edit dashboards")),
    (2, ("Audit log of user actions", "See who changed what and when",
         "Exportable audit trail for compliance")),
    (2, ("Dark mode", "A dark theme for the web app", "Night mode please")),
    (3, ("Scheduled email reports", "Send dashboards every Monday morning",
         "Automatic weekly report by email")),
    (2, ("Host our data in the EU", "EU data residency option",
         "Data center in Frankfurt for GDPR")),
    (2, ("HubSpot integration", "Sync contacts with HubSpot", "Native HubSpot connector")),
    (2, ("Webhooks for events", "Call our endpoint when something changes",
         "Outgoing webhooks")),
    (1, ("Offline mode on mobile", "Use the mobile app without a connection")),
    (2, ("Bulk import users from CSV", "Invite many users at once", "Provision users via SCIM")),
)
IDEAS = (
    "What if dashboards could be shared with a public link?",
    "A template gallery where customers share their dashboards.",
    "Benchmarks against similar companies would be amazing.",
    "A weekly AI summary of what changed in our numbers.",
    "Let us annotate charts with events like launches.",
    "A sandbox workspace to test changes safely.",
    "Goals per team with progress bars.",
    "Badges for power users to make adoption fun.",
    "Co-develop a forecasting module with us; we would pilot it.",
    "A partner marketplace for integrations built by customers.",
)
#: Company names are made of a head, a syllable and a trade, then the country's legal suffix.
NAME_HEADS = (
    "Acme", "Apex", "Arbor", "Aster", "Atlas", "Beacon", "Birch", "Blue", "Bright", "Cedar",
    "Cobalt", "Coral", "Crest", "Delta", "Ember", "Everest", "Falcon", "Fern", "Granite",
    "Harbor", "Helix", "Horizon", "Indigo", "Iron", "Juniper", "Keystone", "Lumen", "Maple",
    "Meridian", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit", "Pine", "Polar", "Prism",
    "Quartz", "Radiant", "Red", "River", "Sable", "Sierra", "Silver", "Sol", "Spruce", "Summit",
    "Tidal", "Vertex", "Willow", "Zenith",
)
NAME_SYLLABLES = (
    "", "bay", "field", "gate", "hill", "lake", "line", "peak", "point", "ridge", "rock",
    "stone", "vale", "view", "wave", "wood",
)
NAME_TRADES = (
    "Analytics", "Bank", "Bio", "Capital", "Clinics", "Cloud", "Consulting", "Dynamics",
    "Energy", "Foods", "Freight", "Games", "Group", "Health", "Holdings", "Insights", "Labs",
    "Learning", "Logistics", "Media", "Metrics", "Mobility", "Networks", "Partners", "Pay",
    "Retail", "Robotics", "Software", "Solutions", "Studios", "Systems", "Travel", "Ventures",
    "Works",
)

SIGNUP_SEASON = np.array([1.30, 1.15, 1.20, 1.0, 0.95, 0.9, 0.8, 0.75, 1.30, 1.10, 1.0, 0.70])
#: Monthly growth of signups over the window.
SIGNUP_GROWTH = 0.012
#: Share of customers already paying when the window opens (they started up to 4 years before).
BASE_SHARE = 0.66
#: Churn by calendar month: year-end budget reviews make December and January worse.
CHURN_SEASON = np.array([1.25, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.1, 1.4])
#: A day number far in the future: the end of a subscription that has not ended.
OPEN = 10**7
SECONDS_PER_DAY = 86_400


def write_company(
    out_dir: Path,
    *,
    customers: int = 500,
    months: int = 24,
    seed: int = 7,
    end: date | None = None,
    fmt: Literal["csv", "parquet"] = "parquet",
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Path]]:
    """Write a realistic synthetic SaaS company as files in the canonical format.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing). Files are named after their table
        (``customers.parquet``); ``usage_events`` is split into ``usage_events-000.parquet``,
        ``usage_events-001.parquet``, ... one per chunk of 10,000 customers.
    customers
        Number of customer accounts. About two thirds already pay when the window opens; the
        rest sign up during it.
    months
        Whole months of history before ``end``. Subscriptions of customers who started before
        the window keep their real (earlier) start dates; every other table covers the window.
    seed
        Seed of ``numpy.random.default_rng``; the same arguments give byte-identical files.
    end
        Last day of data; by default the last day of the previous calendar month (UTC).
    fmt
        ``"parquet"`` (typed columns) or ``"csv"`` (UTF-8 with a header; dates ``YYYY-MM-DD``,
        timestamps ``YYYY-MM-DD HH:MM:SS``, empty fields where a value is unknown).
    progress
        Called with a short message as each stage starts.

    Returns
    -------
    dict
        Table name -> files written, in load order (``LOAD_ORDER``: customers first, then
        exchange_rates, subscriptions, ...). Every file has every canonical column.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> files = write_company(out, customers=50, months=6, end=date(2024, 6, 30))
    >>> list(files)[:2], files["usage_events"][0].name
    (['customers', 'exchange_rates'], 'usage_events-000.parquet')
    """
    _check_arguments(customers, months, seed, fmt)
    report = progress or (lambda _message: None)
    calendar = Calendar.build(end or default_end(), months)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sinks = {name: _Sink(out_dir, TABLES[name], fmt, name in SPLIT_TABLES) for name in LOAD_ORDER}

    report("customers")
    accounts = _make_accounts(rng, customers, calendar)
    report("exchange rates")
    rates = _exchange_rates(rng, calendar, int(accounts.start_day.min()))
    sinks["exchange_rates"].write(rates.columns())
    ids = _Ids(customers)
    totals = _Totals.zeros(calendar.periods)
    density = event_density(customers)
    n_chunks = -(-customers // CHUNK_CUSTOMERS)
    for k in range(n_chunks):
        report(f"subscriptions, usage, tickets and surveys {k + 1}/{n_chunks}")
        chunk_rng = np.random.default_rng([seed, k + 1])
        lo, hi = k * CHUNK_CUSTOMERS, min(customers, (k + 1) * CHUNK_CUSTOMERS)
        _write_chunk(chunk_rng, accounts.part(lo, hi), calendar, density, rates, ids, totals,
                     sinks)
    sinks["customers"].write(_customer_columns(accounts, ids))
    report("leads and traffic")
    leads = _leads(rng, accounts, calendar)
    sinks["leads"].write(_lead_columns(leads, ids))
    sinks["traffic"].write(_traffic(rng, calendar, leads))
    report("costs")
    sinks["costs"].write(_costs(rng, calendar, accounts, rates, totals))
    return {name: sinks[name].close() for name in LOAD_ORDER}


def event_density(customers: int) -> float:
    """How many times denser per customer-month the events of a company of this size are.

    Usage, tickets, surveys, CSM touches, orders and feedback are drawn at base rates tuned
    for large companies (about 4 usage rows, 0.2 tickets and 0.1 survey answers per
    customer-month). A small demo gets up to 4x more per customer so its charts are not empty;
    the factor falls smoothly to 1, and customers x factor still grows with size.
    """
    return 1.0 + 3.0 * 2000.0 / (2000.0 + customers)


def _check_arguments(customers: int, months: int, seed: int, fmt: str) -> None:
    """Refuse sizes, seeds and formats the generator cannot honour, naming the fix."""
    for name, value, least in (("customers", customers, 1), ("months", months, 1),
                               ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserInputError(f"{name} must be a whole number of at least {least}, "
                                 f"got {value!r}.")
    if fmt not in ("csv", "parquet"):
        raise UserInputError(f"fmt must be 'csv' or 'parquet', got {fmt!r}.")


def default_end(clock: Clock | None = None) -> date:
    """The last day of the previous calendar month, by ``clock`` (default: the process
    clock), in UTC."""
    today = (clock or default_clock()).today()
    return today.replace(day=1) - timedelta(days=1)


# --------------------------------------------------------------------------------------------
# Calendar and small random helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The simulated window as day numbers (days since 1970-01-01).

    The window is made of calendar months: ``months`` whole months before ``end``, plus the
    month of ``end`` itself when ``end`` is not a month's last day.
    """

    first_day: int
    last_day: int
    first_month: int  # months since 1970-01 of the window's first month
    month_start: np.ndarray  # first day of each month, then the first day after the last month

    @classmethod
    def build(cls, end: date, months: int) -> Calendar:
        """The window of ``months`` whole months that ends on ``end``."""
        last = np.datetime64(end, "D")
        first_month = (last + 1).astype("datetime64[M]") - months
        n = int(last.astype("datetime64[M]") - first_month) + 1
        starts = (first_month + np.arange(n + 1)).astype("datetime64[D]").astype(np.int64)
        return cls(int(starts[0]), int(last.astype(np.int64)), int(first_month.astype(np.int64)),
                   starts)

    @property
    def periods(self) -> int:
        """Number of months in the window (the last may be partial)."""
        return len(self.month_start) - 1

    @property
    def days(self) -> int:
        """Number of days in the window."""
        return self.last_day - self.first_day + 1

    @property
    def month_last(self) -> np.ndarray:
        """Last day of each month that lies in the window (the data's end for the last one)."""
        return np.minimum(self.month_start[1:] - 1, self.last_day)

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Window month index of each day (negative before the window)."""
        months = np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return months - self.first_month

    def calendar_month(self, m: np.ndarray | int) -> np.ndarray:
        """Calendar month (0 = January) of window month ``m``."""
        return (self.first_month + np.asarray(m)) % 12

    def on_day_of_month(self, m: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
        """The day in window month ``m`` with this day of month (clamped to the month's end)."""
        length = self.month_start[m + 1] - self.month_start[m]
        return self.month_start[m] + np.minimum(day_of_month, length) - 1

    def next_after_end(self, day_of_month: np.ndarray) -> np.ndarray:
        """The first day after the data's end with this day of month (clamped to month ends)."""
        months = np.array([self.first_month + self.periods - 1,
                           self.first_month + self.periods]).astype("datetime64[M]")
        starts = months.astype("datetime64[D]").astype(np.int64)
        lengths = (months + 1).astype("datetime64[D]").astype(np.int64) - starts
        due = starts + np.minimum(np.asarray(day_of_month)[:, None], lengths) - 1
        return np.where(due[:, 0] > self.last_day, due[:, 0], due[:, 1])


def _day_of_month(days: np.ndarray) -> np.ndarray:
    """Day of the month (1-31) of day numbers."""
    d = np.asarray(days).astype("datetime64[D]")
    return (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


def _weekday(days: np.ndarray) -> np.ndarray:
    """Day of the week of day numbers, 0 = Monday."""
    return (np.asarray(days) + 3) % 7


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows are weights over the same categories)."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), probs.shape[1] - 1)


def _choice(rng: np.random.Generator, weights: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    """``n`` category indices drawn with these weights."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _pick_days(rng: np.random.Generator, first: np.ndarray, last: np.ndarray,
               weekend: float) -> np.ndarray:
    """A day in each range [first, last]; weekends are kept only with chance ``weekend``."""
    span = last - first + 1
    day = first + (rng.random(len(first)) * span).astype(np.int64)
    redraw = (_weekday(day) >= 5) & (rng.random(len(first)) > weekend)
    day[redraw] = first[redraw] + (rng.random(int(redraw.sum())) * span[redraw]).astype(np.int64)
    return day


def _clock(rng: np.random.Generator, n: int, mean_hour: float = 13.0,
           spread: float = 2.8) -> np.ndarray:
    """Seconds after midnight of ``n`` moments, mostly in office hours."""
    hours = np.clip(rng.normal(mean_hour, spread, n), 6.0, 22.9)
    return (hours * 3600).astype(np.int64)


def _lognormal_hours(rng: np.random.Generator, median: np.ndarray, sigma: float) -> np.ndarray:
    """Delays in seconds with the given median hours, at least one minute."""
    hours = median * np.exp(rng.normal(0.0, sigma, len(median)))
    return np.maximum((hours * 3600).astype(np.int64), 60)


def _spawn(rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    """Row indices repeated once per event drawn from Poisson(rate) for each row."""
    return np.repeat(np.arange(len(rate)), rng.poisson(np.maximum(rate, 0.0)))


def _run_starts(group: np.ndarray) -> np.ndarray:
    """True where a run of equal values in the sorted array ``group`` begins."""
    starts = np.ones(len(group), dtype=bool)
    starts[1:] = group[1:] != group[:-1]
    return starts


def _group_cumsum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each run of equal ``group`` (``group`` sorted)."""
    if len(values) == 0:
        return values.copy()
    running = np.cumsum(values)
    starts = _run_starts(group)
    before = running[starts] - values[starts]
    return running - before[np.cumsum(starts) - 1]


def _last_per_group(values: np.ndarray, group: np.ndarray, n: int, fill: float) -> np.ndarray:
    """The last value of each group 0..n-1 (``group`` sorted); ``fill`` for empty groups."""
    out = np.full(n, fill, dtype=np.float64)
    last = np.flatnonzero(np.append(group[1:] != group[:-1], True)) if len(group) else group
    out[group[last]] = values[last]
    return out


# --------------------------------------------------------------------------------------------
# Arrow columns and files
# --------------------------------------------------------------------------------------------

ARROW_TYPES = {
    DType.STRING: pa.string(),
    DType.DATE: pa.date32(),
    DType.TIMESTAMP: pa.timestamp("s"),
    DType.MONEY: pa.decimal128(18, 2),
    DType.INTEGER: pa.int64(),
    DType.NUMBER: pa.float64(),
}


def _labels(values: Sequence[str], idx: np.ndarray) -> pa.Array:
    """The strings ``values[idx]``; null where ``idx`` is negative."""
    idx = np.asarray(idx, dtype=np.int64)
    return pa.array(list(values), pa.string()).take(pa.array(idx, mask=idx < 0))


def _numbered(prefix: str | pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers like ``C00042``: the prefix, then the number padded with zeros."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(seconds: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Naive timestamps from seconds since 1970-01-01."""
    return pa.array(np.asarray(seconds, dtype=np.int64), pa.timestamp("s"), mask=missing)


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Dates from day numbers."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32(), mask=missing)


def _money(amounts: np.ndarray) -> pa.Array:
    """Amounts rounded to cents."""
    return pa.array(np.round(np.asarray(amounts, dtype=np.float64), 2)).cast(pa.decimal128(18, 2))


class _Ids:
    """Builds the string identifiers of customers, users and rows, with fixed widths."""

    def __init__(self, customers: int) -> None:
        self.customer_width = max(5, len(str(customers)))
        self.row_width = max(6, len(str(customers)) + 2)
        self.next_row: dict[str, int] = {}

    def customers(self, index: np.ndarray) -> pa.Array:
        """``C00042`` for customer index 41."""
        return _numbered("C", np.asarray(index) + 1, self.customer_width)

    def users(self, customer: np.ndarray, user: np.ndarray) -> pa.Array:
        """``C00042-U007``: user 6 (0-based) of customer index 41."""
        key = np.asarray(customer, dtype=np.int64) * 1000 + user
        unique, inverse = np.unique(key, return_inverse=True)
        prefix = pc.binary_join_element_wise(self.customers(unique // 1000), "-U", "")
        return _numbered(prefix, unique % 1000 + 1, 3).take(pa.array(inverse))

    def rows(self, prefix: str, n: int) -> pa.Array:
        """The next ``n`` row identifiers with this prefix (``T000001``, ...)."""
        start = self.next_row.get(prefix, 1)
        self.next_row[prefix] = start + n
        return _numbered(prefix, np.arange(start, start + n), self.row_width)


class _Sink:
    """Writes one canonical table batch by batch, always with every canonical column."""

    def __init__(self, out_dir: Path, table: Table, fmt: str, split: bool) -> None:
        self.out_dir, self.table, self.fmt, self.split = out_dir, table, fmt, split
        self.schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in table.columns])
        self.paths: list[Path] = []
        self.writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        if split:
            for stale in sorted(out_dir.glob(f"{table.name}-[0-9][0-9][0-9].{fmt}")):
                stale.unlink()

    def write(self, columns: dict[str, pa.Array]) -> None:
        """Append rows given as named columns; missing canonical columns are written empty."""
        unknown = sorted(set(columns) - set(self.schema.names))
        if unknown:
            raise InternalError(f"{self.table.name} has no columns {unknown}.")
        n = len(next(iter(columns.values())))
        if self.split and n == 0:
            return
        arrays = [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type)
                  for f in self.schema]
        if self.writer is None or self.split:
            self._open()
        assert self.writer is not None
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        if self.split:
            self._close_file()

    def close(self) -> list[Path]:
        """Finish the files; a table without rows still gets one file with its columns."""
        if not self.paths:
            self._open()
        self._close_file()
        return list(self.paths)

    def _open(self) -> None:
        self._close_file()
        name = f"{self.table.name}-{len(self.paths):03d}" if self.split else self.table.name
        path = self.out_dir / f"{name}.{self.fmt}"
        if self.fmt == "parquet":
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self.writer = pacsv.CSVWriter(path, self.schema)
        self.paths.append(path)

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# --------------------------------------------------------------------------------------------
# Customers: who they are, fixed for the whole simulation
# --------------------------------------------------------------------------------------------


@dataclass
class Accounts:
    """Every customer's traits, in ``started_at`` order (index i is customer ``C{i+1}``).

    ``plan``, ``seats`` and ``interval`` are those of the first subscription; ``current_plan``
    and ``current_seats`` are filled in as the chunks are simulated. ``discount_rate`` is the
    negotiated share off list price. ``health`` is the hidden baseline health (about normal,
    mean 0) that the monthly health wanders around.
    """

    offset: int
    start_day: np.ndarray
    start_month: np.ndarray
    tier: np.ndarray
    region: np.ndarray
    country: np.ndarray
    industry: np.ndarray
    channel: np.ndarray
    owner: np.ndarray
    referrer: np.ndarray
    eur: np.ndarray
    plan: np.ndarray
    seats: np.ndarray
    interval: np.ndarray
    discount_rate: np.ndarray
    health: np.ndarray
    quick_cancel: np.ndarray
    onboarding: np.ndarray
    users: np.ndarray
    features: np.ndarray
    name: np.ndarray
    current_plan: np.ndarray
    current_seats: np.ndarray

    def __len__(self) -> int:
        return len(self.start_day)

    def part(self, lo: int, hi: int) -> Accounts:
        """Customers ``lo`` to ``hi - 1`` as views (writes to ``current_*`` reach the whole)."""
        values = {k: (v[lo:hi] if isinstance(v, np.ndarray) else v)
                  for k, v in vars(self).items()}
        values["offset"] = self.offset + lo
        return Accounts(**values)


def _make_accounts(rng: np.random.Generator, n: int, cal: Calendar) -> Accounts:
    """Draw ``n`` customers: when they start, where they are, what they buy, how healthy."""
    start_day = np.sort(_signup_days(rng, n, cal))
    start_month = cal.month_of(start_day)
    tier = _choice(rng, TIER_SHARE, n)
    region = _choice(rng, REGION_SHARE, n)
    country = _categorical(rng, _country_weights()[region])
    channel = _categorical(rng, TIER_CHANNEL[tier])
    owner = _categorical(rng, _owner_weights()[region])
    plan = _categorical(rng, TIER_PLAN[tier])
    seats = _seats(rng, tier)
    seats = np.where(plan == 0, np.minimum(seats, 3), seats)
    interval = np.where(plan == 0, 0, _categorical(rng, TIER_INTERVAL[tier]))
    onboarding = rng.random(n) < TIER_ONBOARDING[tier]
    owner_effect = np.array([c[2] for c in CSMS])
    health = (rng.normal(0.0, 0.8, n) + TIER_HEALTH[tier] + REGION_HEALTH[region]
              + owner_effect[owner] + 0.25 * onboarding)
    referrer, channel = _referrers(rng, start_day, channel, health)
    health = health + CHANNEL_HEALTH[channel]
    eur_country = np.isin(np.array([c[0] for c in COUNTRIES])[country], EURO_COUNTRIES)
    quick = ((start_month >= 0)
             & (rng.random(n) < TIER_QUICK_CANCEL[tier] * np.exp(-0.5 * health)))
    return Accounts(
        offset=0, start_day=start_day, start_month=start_month, tier=tier, region=region,
        country=country, industry=_choice(rng, INDUSTRY_SHARE, n), channel=channel, owner=owner,
        referrer=referrer, eur=eur_country & (rng.random(n) < EUR_SHARE), plan=plan,
        seats=seats, interval=interval,
        discount_rate=np.round(rng.random(n) * TIER_DISCOUNT[tier], 2), health=health,
        quick_cancel=quick, onboarding=onboarding,
        users=np.clip(np.round(seats * rng.uniform(0.55, 0.95, n)), 1, 999).astype(np.int64),
        features=_adopted_features(rng, plan, health), name=_company_names(rng, country),
        current_plan=plan.copy(), current_seats=seats.copy(),
    )


def _signup_days(rng: np.random.Generator, n: int, cal: Calendar) -> np.ndarray:
    """Start days: a base that started up to four years before the window, then seasonal signups.

    Signups in the window follow SIGNUP_SEASON (busy January-March and September, quiet in
    summer and December) on a growth trend, and happen mostly on weekdays.
    """
    n_base = int(round(n * BASE_SHARE)) if n > 1 else 0
    base = cal.first_day - 1 - np.floor(1460 * rng.random(n_base) ** 1.5).astype(np.int64)
    month = _choice(rng, _signup_month_weights(cal), n - n_base)
    new = _pick_days(rng, cal.month_start[month], cal.month_last[month], weekend=0.3)
    return np.concatenate([base, new]).astype(np.int64)


def _country_weights() -> np.ndarray:
    """Weights of each country (columns) within each region (rows)."""
    weights = np.zeros((len(REGIONS), len(COUNTRIES)))
    for j, (_, region, weight, _, _) in enumerate(COUNTRIES):
        weights[region, j] = weight
    return weights


def _owner_weights() -> np.ndarray:
    """Each region's customers are shared equally among its CSMs."""
    weights = np.zeros((len(REGIONS), len(CSMS)))
    for j, (_, region, _) in enumerate(CSMS):
        weights[region, j] = 1.0
    return weights


def _seats(rng: np.random.Generator, tier: np.ndarray) -> np.ndarray:
    """Licensed seats: log-normal around each tier's median, within the tier's range."""
    median, spread, low, high = (np.array(v, dtype=np.float64)[tier]
                                 for v in zip(*TIER_SEATS, strict=True))
    seats = median * np.exp(rng.normal(0.0, 1.0, len(tier)) * spread)
    return np.clip(np.round(seats), low, high).astype(np.int64)


def _referrers(rng: np.random.Generator, start_day: np.ndarray, channel: np.ndarray,
               health: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Who referred each referral customer: the healthiest of three earlier customers.

    A referrer started at least 30 days before the customer it refers. Referral customers with
    no such earlier customer (the very first ones) are counted as organic instead.
    Returns the referrer index (-1 for none) and the corrected channels.
    """
    earlier = np.searchsorted(start_day, start_day - 30, side="right")
    channel = np.where((channel == REFERRAL) & (earlier == 0), 0, channel)
    referred = np.flatnonzero(channel == REFERRAL)
    candidates = (rng.random((len(referred), 3)) * earlier[referred, None]).astype(np.int64)
    best = np.argmax(health[candidates], axis=1)
    referrer = np.full(len(start_day), -1, dtype=np.int64)
    referrer[referred] = candidates[np.arange(len(referred)), best]
    return referrer, channel


def _adopted_features(rng: np.random.Generator, plan: np.ndarray, health: np.ndarray) -> np.ndarray:
    """Which features each customer uses at all (customers x features, boolean).

    Healthier customers and bigger plans use more of the product; login is universal.
    """
    chance = np.array([f[1] for f in FEATURES])[None, :] * np.exp(0.25 * health)[:, None]
    for j, (feature, *_rest) in enumerate(FEATURES):
        if feature in PLAN_FEATURE_BOOST:
            chance[:, j] *= np.array(PLAN_FEATURE_BOOST[feature])[plan]
    adopted = rng.random(chance.shape) < chance
    adopted[:, 0] = True
    return adopted


def _company_names(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """Company names like ``Bluefield Analytics GmbH``, distinct while the name space allows."""
    n = len(country)
    space = len(NAME_HEADS) * len(NAME_SYLLABLES) * len(NAME_TRADES)
    pick = rng.choice(space, size=n, replace=n > space)
    head, rest = np.divmod(pick, len(NAME_SYLLABLES) * len(NAME_TRADES))
    syllable, trade = np.divmod(rest, len(NAME_TRADES))
    stem = pc.binary_join_element_wise(_labels(NAME_HEADS, head),
                                       _labels(NAME_SYLLABLES, syllable), "")
    suffix = _labels([c[3] for c in COUNTRIES], country)
    return pc.binary_join_element_wise(stem, _labels(NAME_TRADES, trade), suffix, " ").to_numpy(
        zero_copy_only=False)


def _customer_columns(acc: Accounts, ids: _Ids) -> dict[str, pa.Array]:
    """The customers table: segments, current plan and seats, referrals, billing currency."""
    n = len(acc)
    return {
        "customer_id": ids.customers(np.arange(n)),
        "name": pa.array(acc.name, pa.string()),
        "started_at": _dates(acc.start_day),
        "plan": _labels(PLANS, acc.current_plan),
        "region": _labels(REGIONS, acc.region),
        "country": _labels([c[0] for c in COUNTRIES], acc.country),
        "industry": _labels(INDUSTRIES, acc.industry),
        "size_tier": _labels(TIERS, acc.tier),
        "seats": pa.array(acc.current_seats, pa.int64()),
        "owner": _labels([c[0] for c in CSMS], acc.owner),
        "acquisition_channel": _labels(CHANNELS, acc.channel),
        "referred_by": _customer_refs(ids, acc.referrer),
        "currency": _labels(CURRENCIES, acc.eur.astype(np.int64)),
    }


# --------------------------------------------------------------------------------------------
# Exchange rates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Daily EUR -> USD rates from ``first_day`` on (USD is the reporting currency)."""

    first_day: int
    eur_usd: np.ndarray

    def on(self, days: np.ndarray) -> np.ndarray:
        """The rate on each day."""
        return self.eur_usd[np.asarray(days) - self.first_day]

    def columns(self) -> dict[str, pa.Array]:
        """The exchange_rates table: one EUR row per day."""
        n = len(self.eur_usd)
        return {
            "date": _dates(self.first_day + np.arange(n)),
            "currency": pa.array(["EUR"] * n, pa.string()),
            "rate_to_reporting": pa.array(self.eur_usd),
        }


def _exchange_rates(rng: np.random.Generator, cal: Calendar, first_day: int) -> Rates:
    """EUR rates drifting between about 1.05 and 1.15: a slow swing plus daily noise."""
    n = cal.last_day - first_day + 1
    t = np.arange(n)
    noise = np.zeros(n)
    shocks = rng.normal(0.0, 0.0025, n)
    for i in range(1, n):  # one step per day of history, a few thousand at most
        noise[i] = 0.995 * noise[i - 1] + shocks[i]
    swing = 0.035 * np.sin(2 * np.pi * t / 900 + rng.uniform(0, 2 * np.pi))
    return Rates(first_day, np.round(np.clip(1.10 + swing + noise, 1.04, 1.16), 4))


# --------------------------------------------------------------------------------------------
# One chunk of customers: lives, health, subscriptions, then every event table
# --------------------------------------------------------------------------------------------


@dataclass
class _Totals:
    """Monthly company totals collected across chunks, for the costs table."""

    mrr_usd: np.ndarray
    tickets: np.ndarray
    usage_rows: np.ndarray

    @classmethod
    def zeros(cls, periods: int) -> _Totals:
        """Totals of an empty company."""
        return cls(np.zeros(periods), np.zeros(periods), np.zeros(periods))


def _write_chunk(rng: np.random.Generator, acc: Accounts, cal: Calendar, density: float,
                 rates: Rates, ids: _Ids, totals: _Totals, sinks: dict[str, _Sink]) -> None:
    """Simulate one chunk of customers and append all of their rows to the sinks."""
    health = _health_paths(rng, acc.health, cal.periods)
    lives = _lifecycle(rng, acc, cal, health)
    cells = _cells(lives, cal, _signal_health(rng, health, lives, cal))
    periods = _price_periods(rng, acc, lives, cells, cal)
    acc.current_plan[:], acc.current_seats[:] = periods.final_plan, periods.final_seats
    sinks["subscriptions"].write(_subscription_columns(acc, periods, ids))
    _add_mrr(totals, acc, cells, periods, lives, cal, rates)
    size = (periods.cell_seats / 8.0) ** 0.3  # how much a customer-month weighs, by seats

    sinks["orders"].write(_orders(rng, acc, lives, cells, cal, density, ids))
    usage, usage_month = _usage(rng, acc, cells, size, cal, density, ids)
    np.add.at(totals.usage_rows, usage_month, 1)
    sinks["usage_events"].write(usage)
    tickets = _tickets(rng, acc, cells, size, cal, density)
    np.add.at(totals.tickets, cal.month_of(tickets.opened // SECONDS_PER_DAY), 1)
    sinks["tickets"].write(tickets.columns(acc, ids))
    touches = _activities(rng, acc, cells, cal, density)
    sinks["activities"].write(touches.columns(rng, acc, ids))
    answers = Answers.concat([
        _relationship_surveys(rng, acc, cells, cal, density),
        _ticket_surveys(rng, acc, tickets, cal),
        _activity_surveys(rng, acc, touches, cal),
    ])
    sinks["survey_responses"].write(answers.columns(rng, acc, ids))
    sinks["feedback"].write(_feedback(rng, acc, cells, size, cal, density, ids))


def _health_paths(rng: np.random.Generator, baseline: np.ndarray, periods: int) -> np.ndarray:
    """Hidden monthly health (customers x months): the baseline plus a mean-reverting wander."""
    shocks = rng.normal(0.0, 0.35, (len(baseline), periods))
    wander = np.empty_like(shocks)
    wander[:, 0] = rng.normal(0.0, 0.5, len(baseline))
    for m in range(1, periods):
        wander[:, m] = 0.8 * wander[:, m - 1] + shocks[:, m]
    return baseline[:, None] + wander


@dataclass(frozen=True)
class Lives:
    """Stretches of service: one row per signup or reactivation, until churn.

    ``end`` is the first day without service (OPEN while still a customer; after the data's
    end when the customer has cancelled a renewal still to come); ``number`` is 0 for the
    first life and 1, 2 for reactivations. ``canceled`` is the day the customer asked to
    cancel, ``past_due`` the first day a payment was overdue (OPEN for none): involuntary
    churns have no cancellation, only payment trouble.
    """

    cust: np.ndarray
    start: np.ndarray
    end: np.ndarray
    interval: np.ndarray
    number: np.ndarray
    canceled: np.ndarray
    past_due: np.ndarray


def _lifecycle(rng: np.random.Generator, acc: Accounts, cal: Calendar,
               health: np.ndarray) -> Lives:
    """Run the months: signups, quick cancels, churn driven by health, and reactivations.

    Monthly customers may churn on any billing day, quarterly and yearly ones only at renewal;
    the chance rises as health falls and around year end. Customers give notice before their
    service ends (weeks for yearly contracts); three in ten monthly churns are involuntary, a
    card that kept failing. A churned customer may come back after two or more full months
    (healthier, mostly on monthly billing). ``health`` gets the lift of a reactivation
    written into it.
    """
    n, periods = health.shape
    paying = acc.plan > 0  # free accounts cannot fail a payment
    active = np.zeros(n, dtype=bool)
    lives = np.zeros(n, dtype=np.int64)
    life_month = np.zeros(n, dtype=np.int64)
    anchor = np.ones(n, dtype=np.int64)
    interval = acc.interval.copy()
    churn_month = np.full(n, -1000, dtype=np.int64)
    forced_end = np.full(n, OPEN, dtype=np.int64)
    starts: list[tuple[np.ndarray, ...]] = []
    ends: list[tuple[np.ndarray, ...]] = []
    for m in range(periods):
        first, last = cal.month_start[m], cal.month_last[m]
        # signups (and, in the first month, everyone who was already a customer)
        joined = np.flatnonzero((acc.start_month == m) | ((m == 0) & (acc.start_month < 0)))
        starts.append((joined, acc.start_day[joined], interval[joined], lives[joined]))
        active[joined], lives[joined] = True, lives[joined] + 1
        life_month[joined] = acc.start_month[joined]
        anchor[joined] = _day_of_month(acc.start_day[joined])
        quick = joined[acc.quick_cancel[joined]]
        forced_end[quick] = acc.start_day[quick] + rng.integers(5, 46, len(quick))

        # quick cancellations fall due
        stop = np.flatnonzero(active & (forced_end <= last))
        asked = np.maximum(forced_end[stop] - rng.integers(0, 4, len(stop)), acc.start_day[stop])
        ends.append((stop, forced_end[stop], asked, np.full(len(stop), OPEN)))
        active[stop], churn_month[stop], forced_end[stop] = False, m, OPEN

        # churn on the billing day, at renewal for quarterly and yearly contracts
        due = cal.on_day_of_month(np.full(n, m), anchor)
        term = INTERVAL_MONTHS[interval]
        renewing = active & (life_month < m) & (due <= last) & ((m - life_month) % term == 0)
        hazard = np.minimum(TIER_CHURN[acc.tier] * np.exp(-0.9 * health[:, m])
                            * CHURN_SEASON[cal.calendar_month(m)], 0.5)
        leave = np.flatnonzero(renewing & (rng.random(n) < 1 - (1 - hazard) ** term))
        ends.append(_churn_notice(rng, leave, due[leave], interval[leave], paying[leave]))
        active[leave], churn_month[leave], forced_end[leave] = False, m, OPEN

        # former customers come back
        gap = m - churn_month
        returning = (~active & (lives > 0) & (lives < 3) & (gap >= 3) & (gap <= 24)
                     & (rng.random(n) < 0.012 * np.exp(0.5 * health[:, m])))
        back = np.flatnonzero(returning)
        day = first + (rng.random(len(back)) * (last - first + 1)).astype(np.int64)
        interval[back] = _choice(rng, (0.75, 0.05, 0.20), len(back))
        starts.append((back, day, interval[back], lives[back]))
        active[back], lives[back], life_month[back] = True, lives[back] + 1, m
        anchor[back] = _day_of_month(day)
        health[back, m:] += 0.5

    # renewals just after the data's end that customers have already cancelled
    due = cal.next_after_end(anchor)
    term = INTERVAL_MONTHS[interval]
    hazard = np.minimum(TIER_CHURN[acc.tier] * np.exp(-0.9 * health[:, -1]), 0.5)
    renewing = active & ((cal.month_of(due) - life_month) % term == 0)
    leave = np.flatnonzero(renewing & (rng.random(n) < 1 - (1 - hazard) ** term))
    pending = _churn_notice(rng, leave, due[leave], interval[leave], paying[leave])
    told = pending[2] <= cal.last_day
    ends.append(tuple(part[told] for part in pending))
    return _pair_lives(starts, ends, _late_payers(rng, active & paying, health[:, -1], cal))


def _churn_notice(rng: np.random.Generator, cust: np.ndarray, end: np.ndarray,
                  interval: np.ndarray, paying: np.ndarray) -> tuple[np.ndarray, ...]:
    """(customer, end, canceled, past_due) of churns: notice grows with the contract length;
    three in ten paying monthly churns are failed payments instead (no notice, past due for
    weeks)."""
    notice = rng.integers(0, 21, len(cust)) * np.array([1, 2, 4])[interval]
    involuntary = paying & (interval == 0) & (rng.random(len(cust)) < 0.3)
    overdue = end - rng.integers(7, 36, len(cust))
    return (cust, end, np.where(involuntary, OPEN, end - notice),
            np.where(involuntary, overdue, OPEN))


def _late_payers(rng: np.random.Generator, active: np.ndarray, health: np.ndarray,
                 cal: Calendar) -> np.ndarray:
    """First overdue day of customers still active whose payment is late at the data's end
    (a quarter of the unhealthiest); OPEN for everyone else."""
    late = active & (health < -1.0) & (rng.random(len(active)) < 0.25)
    return np.where(late, cal.last_day - rng.integers(0, 31, len(active)), OPEN)


def _pair_lives(starts: list[tuple[np.ndarray, ...]], ends: list[tuple[np.ndarray, ...]],
                late_payer: np.ndarray) -> Lives:
    """Match each customer's k-th end to its k-th start (both were recorded in time order).

    A life that has not ended takes the customer's late-payment day, if any.
    """
    cust, start, interval, number = (np.concatenate(parts).astype(np.int64)
                                     for parts in zip(*starts, strict=True))
    end_cust, end_day, canceled, past_due = (np.concatenate(parts).astype(np.int64)
                                             for parts in zip(*ends, strict=True))
    order = np.argsort(end_cust, kind="stable")
    end_cust, end_day, canceled, past_due = (x[order] for x in (end_cust, end_day, canceled,
                                                                past_due))
    end = np.full(len(cust), OPEN, dtype=np.int64)
    asked, overdue = end.copy(), late_payer[cust]
    if len(end_cust):
        end_key = end_cust * 8 + np.arange(len(end_cust)) - np.searchsorted(end_cust, end_cust)
        key = cust * 8 + number
        pos = np.minimum(np.searchsorted(end_key, key), len(end_key) - 1)
        found = end_key[pos] == key
        end[found], asked[found], overdue[found] = (end_day[pos[found]], canceled[pos[found]],
                                                    past_due[pos[found]])
    overdue = np.where(overdue < OPEN, np.maximum(overdue, start), OPEN)
    asked = np.where(asked < OPEN, np.maximum(asked, start), OPEN)
    order = np.lexsort((start, cust))
    return Lives(cust[order], start[order], end[order], interval[order], number[order],
                 asked[order], overdue[order])


def _signal_health(rng: np.random.Generator, health: np.ndarray, lives: Lives,
                   cal: Calendar) -> np.ndarray:
    """The health the signals show: hidden health, a slide before most churns, random dips.

    Four churns in five are preceded by a decline of one to three months that deepens
    towards the churn month; the rest come without warning. One customer in five has a
    two-month dip it recovers from.
    """
    signal = health.copy()
    periods = health.shape[1]
    churned = np.flatnonzero((lives.end < OPEN) & (rng.random(len(lives.end)) < 0.8))
    churned = churned[lives.end[churned] > cal.first_day]
    month = cal.month_of(lives.end[churned])
    lead = _choice(rng, (0.3, 0.4, 0.3), len(churned)) + 1
    depth = rng.uniform(1.0, 2.4, len(churned))
    for k in range(4):
        m = month - k
        hit = (k <= lead) & (m >= 0) & (m < periods)
        np.add.at(signal, (lives.cust[churned][hit], m[hit]),
                  -depth[hit] * (lead[hit] + 1 - k) / (lead[hit] + 1))
    dipping = np.flatnonzero(rng.random(len(health)) < 0.2)
    start = rng.integers(0, periods, len(dipping))
    dip = rng.uniform(0.7, 1.6, len(dipping))
    for k, share in ((0, 1.0), (1, 0.5)):
        ok = start + k < periods
        signal[dipping[ok], start[ok] + k] -= dip[ok] * share
    return signal


@dataclass(frozen=True)
class Cells:
    """Customer-months with service: one row per life and window month it covers.

    ``first``/``last`` are the first and last day of service in that month, ``tenure`` the
    months since the life started, ``health`` the signal health that month.
    """

    life: np.ndarray
    cust: np.ndarray
    month: np.ndarray
    first: np.ndarray
    last: np.ndarray
    tenure: np.ndarray
    health: np.ndarray

    @property
    def active_share(self) -> np.ndarray:
        """Share of the month's days with service."""
        return (self.last - self.first + 1) / 30.44


def _cells(lives: Lives, cal: Calendar, signal: np.ndarray) -> Cells:
    """Expand lives into the window months they cover (lives stay in order, months ascend)."""
    first_month = np.maximum(cal.month_of(lives.start), 0)
    last_day = np.minimum(lives.end - 1, cal.last_day)
    count = np.where(last_day >= cal.first_day, cal.month_of(last_day) - first_month + 1, 0)
    life = np.repeat(np.arange(len(count)), count)
    offset = np.arange(len(life)) - np.repeat(np.cumsum(count) - count, count)
    month = first_month[life] + offset
    cust = lives.cust[life]
    return Cells(
        life=life, cust=cust, month=month,
        first=np.maximum(lives.start[life], cal.month_start[month]),
        last=np.minimum(last_day[life], cal.month_start[month + 1] - 1),
        tenure=month - cal.month_of(lives.start[life]),
        health=signal[cust, month],
    )


# --------------------------------------------------------------------------------------------
# Subscriptions: price periods within each life
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricePeriods:
    """Subscription rows plus the plan and seats of every cell and every customer at the end.

    ``canceled`` and ``past_due`` (OPEN for none) sit on the last row of a life.
    """

    cust: np.ndarray
    start: np.ndarray
    end: np.ndarray
    plan: np.ndarray
    seats: np.ndarray
    interval: np.ndarray
    canceled: np.ndarray
    past_due: np.ndarray
    cell_plan: np.ndarray
    cell_seats: np.ndarray
    final_plan: np.ndarray
    final_seats: np.ndarray




def _price_periods(rng: np.random.Generator, acc: Accounts, lives: Lives, cells: Cells,
                   cal: Calendar) -> PricePeriods:
    """Seat and plan changes month by month; each change starts a new subscription row.

    A life starts with one row; every month whose plan or seats differ from the month before
    adds a row starting on the billing day of that month, and the previous row ends that day.
    """
    n_lives = len(lives.cust)
    log_growth, moves = _seat_and_plan_changes(rng, acc, lives, cells, cal)
    cum_growth = _group_cumsum(log_growth, cells.life)
    cum_moves = _group_cumsum(moves, cells.life)
    total_growth = _last_per_group(cum_growth, cells.life, n_lives, 0.0)
    total_moves = _last_per_group(cum_moves, cells.life, n_lives, 0.0).astype(np.int64)
    plan0, seats0 = _initial_states(rng, acc, lives, total_growth, total_moves)

    cell_plan = _plan_after(plan0[cells.life], cum_moves)
    cell_seats = _seats_after(seats0[cells.life], cum_growth)
    first_cell = _run_starts(cells.life)
    prev_plan = np.where(first_cell, plan0[cells.life], np.roll(cell_plan, 1))
    prev_seats = np.where(first_cell, seats0[cells.life], np.roll(cell_seats, 1))
    changed = np.flatnonzero((cell_plan != prev_plan) | (cell_seats != prev_seats))
    change_day = cal.on_day_of_month(cells.month[changed],
                                     _day_of_month(lives.start[cells.life[changed]]))

    row_life = np.concatenate([np.arange(n_lives), cells.life[changed]])
    row_start = np.concatenate([lives.start, change_day])
    row_plan = np.concatenate([plan0, cell_plan[changed]])
    row_seats = np.concatenate([seats0, cell_seats[changed]])
    order = np.lexsort((row_start, row_life))
    row_life, row_start = row_life[order], row_start[order]
    continues = np.append(row_life[1:] == row_life[:-1], False)
    row_end = np.where(continues, np.append(row_start[1:], OPEN), lives.end[row_life])
    canceled = np.where(continues | (lives.canceled[row_life] >= OPEN), OPEN,
                        np.maximum(lives.canceled[row_life], row_start))
    past_due = np.where(continues | (lives.past_due[row_life] >= OPEN), OPEN,
                        np.maximum(lives.past_due[row_life], row_start))

    last_life = np.flatnonzero(np.append(lives.cust[1:] != lives.cust[:-1], True))
    final_plan, final_seats = acc.plan.copy(), acc.seats.copy()
    final_plan[lives.cust[last_life]] = _plan_after(plan0, total_moves)[last_life]
    final_seats[lives.cust[last_life]] = _seats_after(seats0, total_growth)[last_life]
    return PricePeriods(
        cust=lives.cust[row_life], start=row_start, end=row_end, plan=row_plan[order],
        seats=row_seats[order], interval=lives.interval[row_life], canceled=canceled,
        past_due=past_due, cell_plan=cell_plan,
        cell_seats=cell_seats, final_plan=final_plan, final_seats=final_seats,
    )


def _seat_and_plan_changes(rng: np.random.Generator, acc: Accounts, lives: Lives, cells: Cells,
                           cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """What happens on each cell's billing day: log seat growth and plan moves (+1 / -1).

    Expansion and upgrades are likelier when health is high and may happen on any billing
    day; contraction and downgrades are likelier when it is low and wait for the renewal of
    quarterly and yearly contracts. Free accounts can only upgrade (to starter).
    """
    life = cells.life
    due = cal.on_day_of_month(cells.month, _day_of_month(lives.start[life]))
    since = cells.month - cal.month_of(lives.start[life])
    term = INTERVAL_MONTHS[lives.interval[life]]
    renewal = since % term == 0
    allowed = (since > 0) & (due <= cal.last_day) & (due < lives.end[life])
    free = (acc.plan[lives.cust[life]] == 0) & (lives.number[life] == 0)
    up, down = np.exp(0.5 * cells.health), np.exp(-0.6 * cells.health)
    at_renewal = renewal * ~free
    chance = np.stack([
        0.020 * up * ~free,                                    # add seats
        (1 - (1 - 0.020 * down) ** term) * at_renewal,         # remove seats
        np.where(free, 0.05, 0.008 * up),                      # upgrade
        (1 - (1 - 0.006 * down) ** term) * at_renewal,         # downgrade
    ], axis=1) * allowed[:, None]
    u = rng.random(len(life))
    kind = (u[:, None] >= np.cumsum(chance, axis=1)).sum(axis=1)  # 4 = nothing happens
    factor = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [rng.uniform(1.05, 1.35, len(life)), rng.uniform(0.6, 0.92, len(life)),
         rng.uniform(1.0, 1.2, len(life)), rng.uniform(0.8, 1.0, len(life))],
        1.0,
    )
    moves = np.select([kind == 2, kind == 3], [1, -1], 0)
    return np.log(factor), moves


def _initial_states(rng: np.random.Generator, acc: Accounts, lives: Lives,
                    total_growth: np.ndarray, total_moves: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Plan and seats each life starts with.

    A first life starts as drawn for the customer. A returning customer comes back on the plan
    it left (one lower four times in ten, never free) with half to all of its former seats.
    """
    plan0 = acc.plan[lives.cust].copy()
    seats0 = acc.seats[lives.cust].copy()
    for k in range(1, int(lives.number.max(initial=0)) + 1):
        now = np.flatnonzero(lives.number == k)
        before = now - 1  # lives are in (customer, start) order
        left_plan = _plan_after(plan0[before], total_moves[before])
        left_seats = _seats_after(seats0[before], total_growth[before])
        plan0[now] = np.clip(left_plan - (rng.random(len(now)) < 0.4), 1, len(PLANS) - 1)
        seats0[now] = np.maximum(1, np.round(left_seats * rng.uniform(0.5, 1.0, len(now))))
    return plan0, seats0


def _plan_after(plan0: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Plan after net ``moves`` steps: free reaches at most starter, paid never drops to free."""
    top = np.where(plan0 == 0, 1, len(PLANS) - 1)
    return np.clip(plan0 + moves, np.minimum(plan0, 1), top).astype(np.int64)


def _seats_after(seats0: np.ndarray, log_growth: np.ndarray) -> np.ndarray:
    """Seats after growing by ``exp(log_growth)``, at least one."""
    return np.maximum(1, np.round(seats0 * np.exp(log_growth))).astype(np.int64)


def _price(acc: Accounts, cust: np.ndarray, plan: np.ndarray, seats: np.ndarray,
           interval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """List price per billing interval (seats x list price x interval months) and the
    customer's negotiated discount on it, both rounded to cents."""
    per_seat = SEAT_PRICE[acc.eur[cust].astype(np.int64), plan]
    amount = np.round(per_seat * seats * INTERVAL_PRICE_MONTHS[interval], 2)
    return amount, np.round(amount * acc.discount_rate[cust], 2)


def _monthly(acc: Accounts, cust: np.ndarray, plan: np.ndarray, seats: np.ndarray,
             interval: np.ndarray, day: np.ndarray, rates: Rates) -> np.ndarray:
    """MRR in USD: what the customer pays per month, converted at the day's rate."""
    amount, discount = _price(acc, cust, plan, seats, interval)
    mrr = (amount - discount) / INTERVAL_MONTHS[interval]
    return np.where(acc.eur[cust], mrr * rates.on(day), mrr)


def _subscription_columns(acc: Accounts, periods: PricePeriods, ids: _Ids) -> dict[str, pa.Array]:
    """The subscriptions rows of one chunk; ``discount`` is empty where there is none."""
    amount, discount = _price(acc, periods.cust, periods.plan, periods.seats, periods.interval)
    return {
        "subscription_id": ids.rows("S", len(amount)),
        "customer_id": ids.customers(acc.offset + periods.cust),
        "plan": _labels(PLANS, periods.plan),
        "amount": _money(amount),
        "billing_interval": _labels(INTERVALS, periods.interval),
        "start_date": _dates(periods.start),
        "end_date": _dates(periods.end, missing=periods.end >= OPEN),
        "quantity": pa.array(periods.seats, pa.int64()),
        "discount": pa.array(discount, mask=discount == 0).cast(pa.decimal128(18, 2)),
        "canceled_at": _dates(periods.canceled, missing=periods.canceled >= OPEN),
        "past_due_since": _dates(periods.past_due, missing=periods.past_due >= OPEN),
        "currency": _labels(CURRENCIES, acc.eur[periods.cust].astype(np.int64)),
    }


def _add_mrr(totals: _Totals, acc: Accounts, cells: Cells, periods: PricePeriods,
             lives: Lives, cal: Calendar, rates: Rates) -> None:
    """Add the chunk's month-end MRR, in USD, to the company totals."""
    at_end = np.flatnonzero(cells.last == cal.month_last[cells.month])
    mrr = _monthly(acc, cells.cust[at_end], periods.cell_plan[at_end],
                   periods.cell_seats[at_end], lives.interval[cells.life[at_end]],
                   cells.last[at_end], rates)
    np.add.at(totals.mrr_usd, cells.month[at_end], mrr)


# --------------------------------------------------------------------------------------------
# Orders: onboarding and training services, add-ons, one-time products
# --------------------------------------------------------------------------------------------

#: Amount range of one order by kind (product, training services, add-on) and tier.
ORDER_AMOUNTS = np.array([
    [[29, 199], [99, 499], [299, 1500]],
    [[300, 900], [1200, 3000], [4000, 12000]],
    [[49, 400], [200, 2000], [1000, 8000]],
])
#: Onboarding packages by tier: lowest price, highest price, rounding step.
ONBOARDING_PRICE = np.array([[500, 1500, 50], [2500, 7500, 100], [10000, 40000, 500]])
EUR_PER_USD_LIST = 0.92


def _orders(rng: np.random.Generator, acc: Accounts, lives: Lives, cells: Cells, cal: Calendar,
            density: float, ids: _Ids) -> dict[str, pa.Array]:
    """One-time orders: onboarding at signup, then training, add-ons and products.

    Add-ons come more often from healthy customers; payments fail and refunds happen more
    often for unhealthy ones, and most quick cancellers get their onboarding refunded.
    """
    signup = np.flatnonzero((lives.number == 0) & (lives.start >= cal.first_day)
                            & acc.onboarding[lives.cust])
    s_cust = lives.cust[signup]
    s_day = np.minimum(lives.start[signup] + rng.integers(0, 4, len(signup)), cal.last_day)
    low, high, step = ONBOARDING_PRICE[acc.tier[s_cust]].T
    s_amount = np.round(rng.uniform(low, high) / step) * step
    s_refund = acc.quick_cancel[s_cust] & (rng.random(len(signup)) < 0.6)

    share, e = cells.active_share, cells.health
    weights = np.stack([np.full(len(e), 0.004), np.full(len(e), 0.006),
                        0.012 * np.exp(0.4 * e)], axis=1)
    row = _spawn(rng, weights.sum(axis=1) * density * share)
    kind = _categorical(rng, weights[row])
    cust = cells.cust[row]
    day = _pick_days(rng, cells.first[row], cells.last[row], weekend=0.1)
    low, high = ORDER_AMOUNTS[kind, acc.tier[cust]].T
    amount = np.round(rng.uniform(low, high))
    trouble = rng.random(len(row)) / np.exp(-0.6 * e[row])
    status = np.select([trouble < 0.02, trouble < 0.032], [2, 1], 0)

    cust = np.concatenate([s_cust, cust])
    at = np.concatenate([s_day, day]) * SECONDS_PER_DAY + _clock(rng, len(cust))
    amount = np.concatenate([s_amount, amount])
    amount = np.where(acc.eur[cust], np.round(amount * EUR_PER_USD_LIST, 2), amount)
    kind = np.concatenate([np.full(len(signup), 1), kind])
    status = np.concatenate([np.where(s_refund, 1, 0), status])
    order = np.lexsort((at, cust))
    return {
        "order_id": ids.rows("O", len(order)),
        "customer_id": ids.customers(acc.offset + cust[order]),
        "ordered_at": _timestamps(at[order]),
        "amount": _money(amount[order]),
        "kind": _labels(ORDER_KINDS, kind[order]),
        "status": _labels(ORDER_STATUSES, status[order]),
        "currency": _labels(CURRENCIES, acc.eur[cust[order]].astype(np.int64)),
    }


# --------------------------------------------------------------------------------------------
# Product usage
# --------------------------------------------------------------------------------------------


def _usage(rng: np.random.Generator, acc: Accounts, cells: Cells, size: np.ndarray,
           cal: Calendar, density: float, ids: _Ids) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Usage rows: one per user, day and event, with ``quantity`` = how many times.

    Active user-days per month grow with seats and fall steeply with health; new customers
    ramp up over their first two months. On each active day a user logs in and uses the
    features the customer adopted; the non-core ones fade first as health falls.
    Returns the columns and the window month of each row.
    """
    ramp = np.minimum(1.0, 0.45 + 0.3 * cells.tenure)
    season = USAGE_SEASON[cal.calendar_month(cells.month)]
    rate = (USER_DAYS_PER_MONTH * density * size * np.exp(0.75 * cells.health - 0.28) * ramp
            * season * cells.active_share)
    user_day = _spawn(rng, rate)
    cust = cells.cust[user_day]
    user = (acc.users[cust] * rng.random(len(user_day)) ** 2.2).astype(np.int64)
    day = _pick_days(rng, cells.first[user_day], cells.last[user_day], weekend=0.25)
    breadth = np.exp(0.35 * np.clip(cells.health[user_day], -3.0, 1.5))
    hits, events = [], []
    for j, (feature, _adoption, per_day, _units, _seconds) in enumerate(FEATURES):
        chance = per_day * acc.features[cust, j] * (1.0 if feature in CORE_FEATURES else breadth)
        hit = np.flatnonzero(rng.random(len(user_day)) < chance)
        hits.append(hit)
        events.append(np.full(len(hit), j))
    hit, event = np.concatenate(hits), np.concatenate(events)
    key = (((cust[hit] * 1000 + user[hit]) * cal.days + day[hit] - cal.first_day)
           * len(FEATURES) + event)
    key, uses = np.unique(key, return_counts=True)
    key, event = np.divmod(key, len(FEATURES))
    key, day = np.divmod(key, cal.days)
    cust, user = np.divmod(key, 1000)
    day = day + cal.first_day
    units = np.array([f[3] for f in FEATURES])[event]
    quantity = uses + rng.poisson((units - 1) * uses)
    seconds = np.array([f[4] for f in FEATURES])[event]
    duration = np.round(quantity * seconds * np.exp(rng.normal(0.0, 0.5, len(key))))
    columns = {
        "customer_id": ids.customers(acc.offset + cust),
        "user_id": ids.users(acc.offset + cust, user),
        "occurred_at": _timestamps(day * SECONDS_PER_DAY + _clock(rng, len(key), 12.5, 3.5)),
        "event": _labels([f[0] for f in FEATURES], event),
        "quantity": pa.array(quantity.astype(np.float64)),
        "duration_s": pa.array(duration),
    }
    return columns, cal.month_of(day)


# --------------------------------------------------------------------------------------------
# Support tickets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tickets:
    """Support tickets of one chunk; -1 marks a response or resolution after the data's end."""

    cust: np.ndarray
    opened: np.ndarray
    responded: np.ndarray
    resolved: np.ndarray
    contacts: np.ndarray
    agent: np.ndarray
    channel: np.ndarray
    category: np.ndarray
    priority: np.ndarray
    health: np.ndarray

    def reopened(self) -> np.ndarray:
        """When a ticket that needed four or more contacts was reopened: it looked solved
        after the first reply, and came back 60 % of the way to its final resolution."""
        return self.responded + ((self.resolved - self.responded) * 0.6).astype(np.int64)

    def columns(self, acc: Accounts, ids: _Ids) -> dict[str, pa.Array]:
        """The tickets rows; open tickets have no resolution and no contact count yet."""
        open_ = self.resolved < 0
        return {
            "ticket_id": ids.rows("T", len(self.cust)),
            "customer_id": ids.customers(acc.offset + self.cust),
            "opened_at": _timestamps(self.opened),
            "first_response_at": _timestamps(self.responded, missing=self.responded < 0),
            "resolved_at": _timestamps(self.resolved, missing=open_),
            "reopened_at": _timestamps(self.reopened(), missing=open_ | (self.contacts < 4)),
            "contacts": pa.array(self.contacts, pa.int64(), mask=open_),
            "agent": _labels([a[0] for a in AGENTS], self.agent),
            "channel": _labels(TICKET_CHANNELS, self.channel),
            "category": _labels(CATEGORIES, self.category),
            "priority": _labels(PRIORITIES, self.priority),
        }


def _tickets(rng: np.random.Generator, acc: Accounts, cells: Cells, size: np.ndarray,
             cal: Calendar, density: float) -> Tickets:
    """Tickets: more of them, more bugs, fewer first-contact fixes and slower ones when unhealthy.

    Each agent has their own first-contact resolution rate and speed; first responses take
    minutes (phone, chat) to hours (email, low priority); tickets still unanswered or
    unresolved at the end of the data are left open.
    """
    rate = TICKETS_PER_MONTH * density * size ** 0.6 * np.exp(-0.6 * cells.health)
    row = _spawn(rng, rate * cells.active_share)
    n, cust, e = len(row), cells.cust[row], cells.health[row]
    day = _pick_days(rng, cells.first[row], cells.last[row], weekend=0.15)
    opened = day * SECONDS_PER_DAY + _clock(rng, n, 12.0, 3.0)
    order = np.lexsort((opened, cust))
    cust, e, opened = cust[order], e[order], opened[order]

    category = _categorical(rng, CATEGORY_SHARE * np.exp(-CATEGORY_HEALTH * e[:, None]))
    priority = _categorical(rng, TIER_PRIORITY[acc.tier[cust]])
    channel = _choice(rng, TICKET_CHANNEL_SHARE, n)
    agent = rng.integers(0, len(AGENTS), n)
    first_time, speed = (np.array(v)[agent] for v in list(zip(*AGENTS, strict=True))[1:])
    responded = opened + _lognormal_hours(
        rng, PRIORITY_HOURS[priority] * TICKET_CHANNEL_SPEED[channel] * speed, 0.8)
    at_once = rng.random(n) < np.clip(first_time + 0.06 * e + CATEGORY_FCR[category], 0.2, 0.97)
    contacts = np.where(at_once, 1, 2 + rng.poisson(0.8, n))
    stalled = np.where(rng.random(n) < 0.04, rng.uniform(5, 20, n), 1.0)  # waiting on someone
    hours = CATEGORY_HOURS[category] * (1 + 0.7 * (contacts - 1)) * np.exp(-0.25 * e) * stalled
    resolved = responded + _lognormal_hours(rng, hours, 0.9)
    data_end = (cal.last_day + 1) * SECONDS_PER_DAY - 1
    return Tickets(
        cust=cust, opened=opened, responded=np.where(responded > data_end, -1, responded),
        resolved=np.where(resolved > data_end, -1, resolved), contacts=contacts, agent=agent,
        channel=channel, category=category, priority=priority, health=e,
    )


# --------------------------------------------------------------------------------------------
# CSM activities
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Touches:
    """CSM activities of one chunk."""

    cust: np.ndarray
    at: np.ndarray
    kind: np.ndarray
    sentiment: np.ndarray
    health: np.ndarray

    def columns(self, rng: np.random.Generator, acc: Accounts, ids: _Ids) -> dict[str, pa.Array]:
        """The activities rows, with notes assembled from kind- and sentiment-specific phrases."""
        n = len(self.cust)
        opener = self.kind * 3 + rng.integers(0, 3, n)
        body = self.sentiment * len(NOTE_BODIES[0]) + rng.integers(0, len(NOTE_BODIES[0]), n)
        notes = pc.binary_join_element_wise(
            _labels([t for kind in NOTE_OPENERS for t in kind], opener),
            _labels([t for s in NOTE_BODIES for t in s], body), ": ")
        return {
            "activity_id": ids.rows("A", n),
            "customer_id": ids.customers(acc.offset + self.cust),
            "occurred_at": _timestamps(self.at),
            "kind": _labels(ACTIVITY_KINDS, self.kind),
            "employee": _labels([c[0] for c in CSMS], acc.owner[self.cust]),
            "sentiment": _labels(SENTIMENTS, self.sentiment),
            "notes": notes,
        }


def _activities(rng: np.random.Generator, acc: Accounts, cells: Cells, cal: Calendar,
                density: float) -> Touches:
    """Calls, meetings, emails, check-ins and QBRs by each customer's CSM.

    Bigger customers get more attention, and CSMs reach out more when an account slips;
    the tone of the conversation follows the customer's health.
    """
    tier = acc.tier[cells.cust]
    outreach = 1 + 0.8 * (cells.health < -0.7)
    row = _spawn(rng, TIER_TOUCHES[tier] * density * cells.active_share * outreach)
    n, cust, e = len(row), cells.cust[row], cells.health[row]
    day = _pick_days(rng, cells.first[row], cells.last[row], weekend=0.05)
    at = day * SECONDS_PER_DAY + _clock(rng, n, 11.5, 2.5)
    order = np.lexsort((at, cust))
    cust, e, at = cust[order], e[order], at[order]
    kind = _choice(rng, ACTIVITY_SHARE, n)
    kind = np.where((kind == ACTIVITY_KINDS.index("qbr")) & (acc.tier[cust] == 0),
                    ACTIVITY_KINDS.index("check_in"), kind)
    tone = np.exp(np.stack([-1.5 * e - 1.6, np.zeros(n), 1.3 * e + 0.4], axis=1))
    return Touches(cust=cust, at=at, kind=kind, sentiment=_categorical(rng, tone), health=e)


# --------------------------------------------------------------------------------------------
# Survey answers
# --------------------------------------------------------------------------------------------

#: Public-review locations ("Berlin, DE"), and where each country's cities start in the list.
CITIES = tuple(f"{city}, {code}" for code, *_rest, cities in COUNTRIES for city in cities)
CITY_FIRST = np.cumsum([0] + [len(c[4]) for c in COUNTRIES])[:-1]
CITY_COUNT = np.array([len(c[4]) for c in COUNTRIES])


@dataclass(frozen=True)
class Answers:
    """Survey answers of one chunk: who answered what, when, about whom, on which theme."""

    cust: np.ndarray
    survey: np.ndarray
    score: np.ndarray
    at: np.ndarray
    employee: np.ndarray  # index into EMPLOYEES, -1 for none
    touchpoint: np.ndarray  # index into TOUCHPOINTS
    location: np.ndarray  # index into CITIES, -1 for none
    theme: np.ndarray  # index into THEMES: what a comment would be about

    @staticmethod
    def concat(parts: Sequence[Answers]) -> Answers:
        """All answers of several sources together."""
        return Answers(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in Answers.__dataclass_fields__))

    def columns(self, rng: np.random.Generator, acc: Accounts, ids: _Ids) -> dict[str, pa.Array]:
        """The survey_responses rows, ordered by customer and time, with comments."""
        order = np.lexsort((self.at, self.cust))
        cust, survey, score = self.cust[order], self.survey[order], self.score[order]
        respondent = (acc.users[cust] * rng.random(len(cust))).astype(np.int64)
        return {
            "response_id": ids.rows("R", len(cust)),
            "customer_id": ids.customers(acc.offset + cust),
            "survey": _labels(SURVEYS, survey),
            "score": pa.array(score.astype(np.float64)),
            "responded_at": _timestamps(self.at[order]),
            "scale_max": pa.array(SURVEY_SCALE[survey], pa.int64()),
            "respondent": ids.users(acc.offset + cust, respondent),
            "employee": _labels(EMPLOYEES, self.employee[order]),
            "touchpoint": _labels(TOUCHPOINTS, self.touchpoint[order]),
            "location": _labels(CITIES, self.location[order]),
            "comment": _comments(rng, survey, score, self.theme[order]),
        }


def _answers(cust: np.ndarray, survey: int, score: np.ndarray, at: np.ndarray,
             touchpoint: np.ndarray | int, theme: np.ndarray, employee: np.ndarray | None = None,
             location: np.ndarray | None = None) -> Answers:
    """Answers of one survey kind, with scores clipped to the survey's scale."""
    n = len(cust)
    return Answers(
        cust=cust, survey=np.full(n, survey),
        score=np.clip(np.round(score), SURVEY_LOWEST[survey], SURVEY_SCALE[survey]),
        at=at, employee=np.full(n, -1) if employee is None else employee,
        touchpoint=np.broadcast_to(touchpoint, (n,)).astype(np.int64),
        location=np.full(n, -1) if location is None else location, theme=theme,
    )


def _relationship_surveys(rng: np.random.Generator, acc: Accounts, cells: Cells, cal: Calendar,
                          density: float) -> Answers:
    """NPS, CES and public reviews asked through the relationship, scored by health."""
    parts = []
    bigger = 1 + 0.3 * (acc.tier[cells.cust] > 0)
    for survey, rate in ((0, 0.028 * bigger), (2, 0.012), (4, 0.006)):
        row = _spawn(rng, rate * density * cells.active_share)
        n, cust, e = len(row), cells.cust[row], cells.health[row]
        day = _pick_days(rng, cells.first[row], cells.last[row], weekend=0.3)
        at = day * SECONDS_PER_DAY + _clock(rng, n, 13.0, 3.5)
        if survey == 0:
            parts.append(_answers(cust, 0, 7.3 + 1.8 * e + rng.normal(0, 1.5, n), at, 0,
                                  _choice(rng, THEME_SHARE, n)))
        elif survey == 2:
            point = rng.integers(0, len(CES_TOUCHPOINTS), n)
            parts.append(_answers(cust, 2, 5.2 + 0.8 * e + rng.normal(0, 1.1, n), at,
                                  np.array(CES_TOUCHPOINTS)[point], CES_THEME[point]))
        else:
            country = acc.country[cust]
            city = CITY_FIRST[country] + (rng.random(n) * CITY_COUNT[country]).astype(np.int64)
            parts.append(_answers(cust, 4, 4.0 + 0.6 * e + rng.normal(0, 0.9, n), at,
                                  np.array(REVIEW_SITES)[rng.integers(0, 4, n)],
                                  _choice(rng, THEME_SHARE, n), location=city))
    return Answers.concat(parts)


def _employee_score(rng: np.random.Generator, employee: np.ndarray, at: np.ndarray,
                    health: np.ndarray, cal: Calendar) -> np.ndarray:
    """A 1-5 rating of an employee: their own level, sliding for some, and the customer's mood."""
    progress = (at / SECONDS_PER_DAY - cal.first_day) / max(cal.days - 1, 1)
    slide = EMPLOYEE_DECLINE[employee] * np.clip((progress - 0.25) / 0.75, 0.0, 1.0)
    return EMPLOYEE_RATING[employee] - slide + 0.35 * health + rng.normal(0, 0.7, len(at))


def _ticket_surveys(rng: np.random.Generator, acc: Accounts, tickets: Tickets,
                    cal: Calendar) -> Answers:
    """CSAT after resolved tickets, and ratings of the agent who handled them.

    Fast, first-contact resolutions and healthy customers give higher scores.
    """
    data_end = (cal.last_day + 1) * SECONDS_PER_DAY - 1
    resolved = np.flatnonzero(tickets.resolved >= 0)
    parts = []
    for survey, chance in ((1, 0.12), (3, 0.07)):
        row = resolved[rng.random(len(resolved)) < chance]
        at = tickets.resolved[row] + rng.integers(600, 48 * 3600, len(row))
        row, at = row[at <= data_end], at[at <= data_end]
        n, e = len(row), tickets.health[row]
        first = tickets.contacts[row] == 1
        if survey == 1:
            days = (tickets.resolved[row] - tickets.opened[row]) / SECONDS_PER_DAY
            score = 3.9 + 0.5 * e + 0.45 * first - 0.35 * np.log1p(days) + rng.normal(0, 0.8, n)
            theme = np.where(rng.random(n) < 0.6, CATEGORY_THEME[tickets.category[row]], 4)
            parts.append(_answers(tickets.cust[row], 1, score, at, 1, theme))
        else:
            employee = len(CSMS) + tickets.agent[row]
            score = _employee_score(rng, employee, at, e, cal) + 0.3 * first
            parts.append(_answers(tickets.cust[row], 3, score, at, 1, np.full(n, 4),
                                  employee=employee))
    return Answers.concat(parts)


def _activity_surveys(rng: np.random.Generator, acc: Accounts, touches: Touches,
                      cal: Calendar) -> Answers:
    """Ratings of the CSM after a touch, and check-in scores (0-10) after check-ins."""
    data_end = (cal.last_day + 1) * SECONDS_PER_DAY - 1
    parts = []
    check_in = ACTIVITY_KINDS.index("check_in")
    n = len(touches.cust)
    for survey, chosen in ((3, rng.random(n) < 0.06),
                           (5, (touches.kind == check_in) & (rng.random(n) < 0.25))):
        row = np.flatnonzero(chosen)
        at = touches.at[row] + rng.integers(1800, 72 * 3600, len(row))
        row, at = row[at <= data_end], at[at <= data_end]
        cust, e = touches.cust[row], touches.health[row]
        if survey == 3:
            employee = acc.owner[cust]
            parts.append(_answers(cust, 3, _employee_score(rng, employee, at, e, cal), at, 5,
                                  np.where(rng.random(len(row)) < 0.7, 4, 0), employee=employee))
        else:
            parts.append(_answers(cust, 5, 7.5 + 1.7 * e + rng.normal(0, 1.4, len(row)), at, 6,
                                  _choice(rng, THEME_SHARE, len(row))))
    return Answers.concat(parts)


def _comments(rng: np.random.Generator, survey: np.ndarray, score: np.ndarray,
              theme: np.ndarray) -> pa.Array:
    """Free-text comments for a share of answers; the rest are empty.

    A comment is an optional opener, a sentence about its theme and an optional closer, all
    in the sentiment the score implies, so thousands of phrasings occur.
    """
    n = len(survey)
    sentiment = np.where(score >= SURVEY_POSITIVE[survey], 2,
                         np.where(score <= SURVEY_NEGATIVE[survey], 0, 1))
    per_theme = len(THEME_SENTENCES["support"][0])
    sentences = [t for name in THEMES for tone in THEME_SENTENCES[name] for t in tone]
    body = (theme * 3 + sentiment) * per_theme + rng.integers(0, per_theme, n)
    opener = sentiment * len(OPENERS[0]) + rng.integers(0, len(OPENERS[0]), n)
    closer = sentiment * len(CLOSERS[0]) + rng.integers(0, len(CLOSERS[0]), n)
    text = pc.utf8_trim_whitespace(pc.binary_join_element_wise(
        _labels([t for s in OPENERS for t in s], opener), _labels(sentences, body),
        _labels([t for s in CLOSERS for t in s], closer), " "))
    has = rng.random(n) < SURVEY_COMMENT[survey]
    return pc.if_else(pa.array(has), text, pa.scalar(None, pa.string()))


# --------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------

#: Every feedback text: requests (by topic), then ideas, complaints and praise (by theme).
REQUEST_TEXTS = tuple(t for _weight, texts in FEATURE_REQUESTS for t in texts)
REQUEST_FIRST = np.cumsum([0] + [len(t) for _w, t in FEATURE_REQUESTS])[:-1]
REQUEST_COUNT = np.array([len(t) for _w, t in FEATURE_REQUESTS])
COMPLAINTS = tuple(t for name in THEMES for t in THEME_SENTENCES[name][0])
PRAISE = tuple(t for name in THEMES for t in THEME_SENTENCES[name][2])
FEEDBACK_TEXTS = REQUEST_TEXTS + IDEAS + COMPLAINTS + PRAISE
#: Status mix by feedback kind (praise has no status).
FEEDBACK_STATUS_SHARE = np.array([
    [0.45, 0.15, 0.10, 0.18, 0.12],
    [0.55, 0.10, 0.05, 0.10, 0.20],
    [0.35, 0.00, 0.25, 0.30, 0.10],
    [1.00, 0.00, 0.00, 0.00, 0.00],
])


def _feedback(rng: np.random.Generator, acc: Accounts, cells: Cells, size: np.ndarray,
              cal: Calendar, density: float, ids: _Ids) -> dict[str, pa.Array]:
    """Feature requests, ideas, complaints and praise; unhappy customers complain more.

    The same requests recur in different words (``SSO with Okta``, ``Single sign-on support``),
    as they do in real feedback.
    """
    row = _spawn(rng, 0.02 * density * size ** 0.5 * cells.active_share)
    n, cust, e = len(row), cells.cust[row], cells.health[row]
    day = _pick_days(rng, cells.first[row], cells.last[row], weekend=0.2)
    at = day * SECONDS_PER_DAY + _clock(rng, n)
    complaint, praise = _sigmoid(-1.3 * e - 1.2), _sigmoid(1.1 * e - 1.3)
    rest = np.maximum(1 - complaint - praise, 0.05)
    kind = _categorical(rng, np.stack([0.7 * rest, 0.3 * rest, complaint, praise], axis=1))
    topic = _choice(rng, [w for w, _t in FEATURE_REQUESTS], n)
    request = REQUEST_FIRST[topic] + (rng.random(n) * REQUEST_COUNT[topic]).astype(np.int64)
    theme = _choice(rng, THEME_SHARE, n) * 5 + rng.integers(0, 5, n)
    text = np.select(
        [kind == 0, kind == 1, kind == 2],
        [request, len(REQUEST_TEXTS) + rng.integers(0, len(IDEAS), n),
         len(REQUEST_TEXTS) + len(IDEAS) + theme],
        len(REQUEST_TEXTS) + len(IDEAS) + len(COMPLAINTS) + theme,
    )
    status = np.where(kind == 3, -1, _categorical(rng, FEEDBACK_STATUS_SHARE[kind]))
    order = np.lexsort((at, cust))
    return {
        "feedback_id": ids.rows("F", n),
        "customer_id": ids.customers(acc.offset + cust[order]),
        "submitted_at": _timestamps(at[order]),
        "kind": _labels(FEEDBACK_KINDS, kind[order]),
        "text": _labels(FEEDBACK_TEXTS, text[order]),
        "status": _labels(FEEDBACK_STATUSES, status[order]),
        "source": _labels(FEEDBACK_SOURCES, _choice(rng, (6, 5, 4, 2, 2, 1), n)),
    }


# --------------------------------------------------------------------------------------------
# Acquisition: leads, traffic and what they cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leads:
    """All leads, in creation order; -1 marks no conversion, customer or referrer."""

    created: np.ndarray
    channel: np.ndarray
    converted: np.ndarray
    customer: np.ndarray
    referrer: np.ndarray


def _leads(rng: np.random.Generator, acc: Accounts, cal: Calendar) -> Leads:
    """One converted lead per customer who signed up in the window, plus the ones that did not.

    A converted lead turns into its customer on the customer's start date, days to weeks
    after it arrived (longest for outbound and events). Each channel converts at its own rate;
    referral leads name the existing customer who referred them.
    """
    new = np.flatnonzero(acc.start_month >= 0)
    channel = acc.channel[new]
    wait = np.maximum(1, np.round(CHANNEL_LEAD_DAYS[channel] * np.exp(rng.normal(0, 0.6,
                                                                             len(new)))))
    converted = acc.start_day[new] * SECONDS_PER_DAY + _clock(rng, len(new))
    created = (acc.start_day[new] - wait.astype(np.int64)) * SECONDS_PER_DAY + _clock(
        rng, len(new))

    missed = np.round(np.bincount(channel, minlength=len(CHANNELS))
                      * (1 / CHANNEL_CONVERSION - 1)).astype(np.int64)
    m_channel = np.repeat(np.arange(len(CHANNELS)), missed)
    month = _choice(rng, _signup_month_weights(cal), len(m_channel))
    m_day = _pick_days(rng, cal.month_start[month], cal.month_last[month], weekend=0.4)
    earlier = np.searchsorted(acc.start_day, m_day, side="left")
    m_referrer = np.where((m_channel == REFERRAL) & (earlier > 0),
                          (rng.random(len(m_day)) * earlier).astype(np.int64), -1)

    created = np.concatenate([created, m_day * SECONDS_PER_DAY + _clock(rng, len(m_day))])
    order = np.lexsort((rng.random(len(created)), created))
    none = np.full(len(m_day), -1)
    return Leads(
        created=created[order],
        channel=np.concatenate([channel, m_channel])[order],
        converted=np.concatenate([converted, none])[order],
        customer=np.concatenate([new, none])[order],
        referrer=np.concatenate([acc.referrer[new], m_referrer])[order],
    )


def _signup_month_weights(cal: Calendar) -> np.ndarray:
    """Relative signups per window month: season x growth x share of the month in the window."""
    months = np.arange(cal.periods)
    return (SIGNUP_SEASON[cal.calendar_month(months)] * np.exp(SIGNUP_GROWTH * months)
            * _month_coverage(cal))


def _month_coverage(cal: Calendar) -> np.ndarray:
    """Share of each window month that lies in the window (1 except a partial last month)."""
    return (cal.month_last - cal.month_start[:-1] + 1) / np.diff(cal.month_start)


def _customer_refs(ids: _Ids, index: np.ndarray) -> pa.Array:
    """Customer ids of ``index``; null where it is negative."""
    return pc.if_else(pa.array(index >= 0), ids.customers(np.maximum(index, 0)),
                      pa.scalar(None, pa.string()))


def _lead_columns(leads: Leads, ids: _Ids) -> dict[str, pa.Array]:
    """The leads rows."""
    return {
        "lead_id": ids.rows("L", len(leads.created)),
        "created_at": _timestamps(leads.created),
        "channel": _labels(CHANNELS, leads.channel),
        "converted_at": _timestamps(leads.converted, missing=leads.converted < 0),
        "customer_id": _customer_refs(ids, leads.customer),
        "referred_by": _customer_refs(ids, leads.referrer),
    }


def _traffic(rng: np.random.Generator, cal: Calendar, leads: Leads) -> dict[str, pa.Array]:
    """Website visitors per day and channel: each channel's lead flow times its visitors per
    lead, lower at weekends, with day-to-day noise."""
    day = leads.created // SECONDS_PER_DAY
    inside = (day >= cal.first_day) & (day <= cal.last_day)
    month = cal.month_of(day[inside])
    per_month = np.zeros((cal.periods, len(CHANNELS)))
    np.add.at(per_month, (month, leads.channel[inside]), 1)
    days_in = cal.month_last - cal.month_start[:-1] + 1
    days = np.arange(cal.first_day, cal.last_day + 1)
    weekday = np.where(_weekday(days) >= 5, 0.55, 1.12)
    mean = (per_month / days_in[:, None])[cal.month_of(days)] * CHANNEL_VISITORS * weekday[:, None]
    visitors = rng.poisson(mean * np.exp(rng.normal(0, 0.12, mean.shape)))
    return {
        "date": _dates(np.repeat(days, len(CHANNELS))),
        "channel": _labels(CHANNELS, np.tile(np.arange(len(CHANNELS)), len(days))),
        "visitors": pa.array(visitors.ravel(), pa.int64()),
    }


def _costs(rng: np.random.Generator, cal: Calendar, acc: Accounts, rates: Rates,
           totals: _Totals) -> dict[str, pa.Array]:
    """Monthly spend: sales and marketing per channel (what CAC divides), and the costs of
    serving customers (customer success, support, retention discounts, cost of revenue).

    Acquisition spend follows the first-month MRR won through each channel, smoothed and
    noisy, so CAC per channel differs in a stable way; event spend peaks in conference months.
    """
    periods = cal.periods
    new = np.flatnonzero(acc.start_month >= 0)
    mrr = _monthly(acc, new, acc.plan[new], acc.seats[new], acc.interval[new],
                   acc.start_day[new], rates)
    won = np.zeros((periods, len(CHANNELS)))
    np.add.at(won, (acc.start_month[new], acc.channel[new]), mrr)
    smooth = 0.6 * won + 0.4 * won.mean(axis=0) * _month_coverage(cal)[:, None]
    spend = CHANNEL_CAC_MONTHS * smooth * np.exp(rng.normal(0, 0.12, smooth.shape))
    events = CHANNELS.index("events")
    season = EVENT_SEASON[cal.calendar_month(np.arange(periods))] / EVENT_SEASON.mean()
    marketing = spend * CHANNEL_MARKETING_SHARE
    marketing[:, events] *= season
    sales = spend * (1 - CHANNEL_MARKETING_SHARE)

    noise = np.exp(rng.normal(0, 0.05, (periods, 4)))
    serving = np.stack([
        0.09 * totals.mrr_usd,
        28.0 * totals.tickets,
        0.006 * totals.mrr_usd,
        0.17 * totals.mrr_usd + 0.0004 * totals.usage_rows,
    ], axis=1) * noise
    blocks = [(sales, "sales", True), (marketing, "marketing", True)] + [
        (serving[:, [j]], name, False) for j, name in
        enumerate(("customer_success", "support", "retention_discount", "cost_of_revenue"))]
    start, end, category, channel, amount = [], [], [], [], []
    for values, name, by_channel in blocks:
        width = values.shape[1]
        start.append(np.repeat(cal.month_start[:-1], width))
        end.append(np.repeat(cal.month_last, width))
        category.extend([name] * values.size)
        channel.append(np.tile(np.arange(width) if by_channel else [-1], periods))
        amount.append(values.ravel())
    start_day = np.concatenate(start)
    order = np.argsort(start_day, kind="stable")
    return {
        "period_start": _dates(start_day[order]),
        "period_end": _dates(np.concatenate(end)[order]),
        "category": pa.array(category, pa.string()).take(pa.array(order)),
        "amount": _money(np.concatenate(amount)[order]),
        "channel": _labels(CHANNELS, np.concatenate(channel)[order]),
        "currency": pa.array(["USD"] * len(order), pa.string()),
    }
