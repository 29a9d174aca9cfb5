"""Every table csmetrics keeps for itself (``_``-prefixed), declared once.

The canonical tables (customers, subscriptions, ...) are declared in ``csmetrics.schema``;
the tables here are csmetrics' own bookkeeping and results: the ingest ledger, refresh
results, health history, predictions, voice-of-customer results, notifications, tasks,
schedules, users, tokens and sessions. Modules use them and never create them: opening a
warehouse (``Warehouse.open``) applies ``csmetrics.store.migrations``, which creates them.

To change a table: edit its statement here (what a new warehouse gets) *and* add a numbered
migration in ``migrations.py`` that brings an older warehouse to the same layout.
"""

from __future__ import annotations

__all__ = ["APP_TABLES", "SEQUENCES", "VERSION_TABLE", "VERSION_TABLE_DDL"]

#: Sequences some tables draw their ids from (created before the tables).
SEQUENCES: dict[str, str] = {
    "_notifications_seq": "CREATE SEQUENCE IF NOT EXISTS _notifications_seq",
    "_task_ids": "CREATE SEQUENCE IF NOT EXISTS _task_ids START 1",
}

#: Table name -> its ``CREATE TABLE IF NOT EXISTS`` statement, as the current code expects it.
APP_TABLES: dict[str, str] = {
    # -- ingest ---------------------------------------------------------------------------
    # The ledger of loads: one row per batch, written in the same transaction as the data.
    "_batches": """
CREATE TABLE IF NOT EXISTS _batches (
  batch_id BIGINT,
  table_name VARCHAR,
  files VARCHAR[],
  content_hash VARCHAR,
  mode VARCHAR,
  rows_read BIGINT,
  inserted BIGINT,
  updated BIGINT,
  unchanged BIGINT,
  deleted BIGINT,
  orphans BIGINT,
  loaded_by VARCHAR,
  loaded_at TIMESTAMPTZ
)""",
    # What each batch changed, in time (csmetrics.ingest.changes).
    "_batch_changes": """
CREATE TABLE IF NOT EXISTS _batch_changes (
  batch_id BIGINT,
  table_name VARCHAR,
  earliest DATE,            -- the first day the batch can affect (NULL: nothing changed)
  everything BOOLEAN,       -- true: the batch may affect any day (a replace)
  earliest_beyond_facts DATE, -- the same, leaving out updates of later facts only
  fact_days DATE[]          -- the days of the rows whose later facts alone changed
)""",
    # The current version of each table a lake keeps (csmetrics.store.lake): its folder,
    # relative to the lake, swapped in the same transaction as the ledger row of its batch.
    "_table_versions": """
CREATE TABLE IF NOT EXISTS _table_versions (
  table_name VARCHAR PRIMARY KEY,
  batch_id BIGINT,          -- the batch that wrote it (0: created empty, or published)
  location VARCHAR NOT NULL,
  rows BIGINT,
  written_at TIMESTAMPTZ NOT NULL
)""",
    # -- refresh results (csmetrics.store.materialize) --------------------------------------
    "_metric_values": """
CREATE TABLE IF NOT EXISTS _metric_values (
  metric VARCHAR,
  grain VARCHAR,
  period_start DATE,
  segment_by VARCHAR,      -- '' for the total, else the segment columns joined by ','
  segment VARCHAR,         -- JSON object of the segment values ('{}' for the total)
  value DOUBLE,
  n BIGINT,
  ci_low DOUBLE,
  ci_high DOUBLE,
  null_reason VARCHAR,
  target DOUBLE,
  details VARCHAR          -- JSON object of the metric's extra columns
)""",
    "_refreshes": """
CREATE TABLE IF NOT EXISTS _refreshes (
  refreshed_at TIMESTAMPTZ,
  grains VARCHAR[],
  segments VARCHAR[],
  first_period DATE,
  last_period DATE,
  rows BIGINT,
  seconds DOUBLE
)""",
    # What the stored results rest on, so the next refresh can tell what it must recompute.
    "_refresh_basis": """
CREATE TABLE IF NOT EXISTS _refresh_basis (
  config VARCHAR,          -- fingerprint of the settings, grains, segments and metric code
  last_batch BIGINT,       -- the newest ingest batch the results include
  first_day DATE,          -- the first day of the data
  known_until DATE,        -- the last day of the data
  rows BIGINT              -- rows written to _metric_values
)""",
    # -- health history (csmetrics.health.history) -----------------------------------------
    "_health_scores": """
CREATE TABLE IF NOT EXISTS _health_scores (
  as_of DATE, customer_id VARCHAR, name VARCHAR, owner VARCHAR, mrr DOUBLE,
  score DOUBLE, band VARCHAR,
  coverage DOUBLE,          -- share of the scorecard's weight backed by data (0-1)
  PRIMARY KEY (as_of, customer_id))""",
    "_health_components": """
CREATE TABLE IF NOT EXISTS _health_components (
  as_of DATE, customer_id VARCHAR, component VARCHAR, signal VARCHAR, raw DOUBLE,
  points DOUBLE, weight DOUBLE, effective_weight DOUBLE, contribution DOUBLE, lost DOUBLE,
  missing BOOLEAN, PRIMARY KEY (as_of, customer_id, component))""",
    "_health_runs": """
CREATE TABLE IF NOT EXISTS _health_runs (
  as_of DATE PRIMARY KEY, computed_at TIMESTAMPTZ, accounts BIGINT, scorecard VARCHAR,
  settings VARCHAR,         -- digest of the settings the scores were computed with
  last_batch BIGINT         -- the newest ingest batch they include
)""",
    # -- predictions (csmetrics.predict.results) -------------------------------------------
    "_churn_scores": """
CREATE TABLE IF NOT EXISTS _churn_scores (
  customer_id VARCHAR, as_of DATE, probability DOUBLE, risk_decile INTEGER,
  reasons VARCHAR, model_trained_at VARCHAR)""",
    # The trained models (csmetrics.predict.churn): app state, so that every server sharing
    # the app store scores with the same model. One row per training; the newest few kept.
    "_models": """
CREATE TABLE IF NOT EXISTS _models (
  name VARCHAR NOT NULL,     -- which model: 'churn'
  version BIGINT NOT NULL,   -- 1, 2, ... per name; the highest is the one in use
  metadata VARCHAR NOT NULL, -- JSON: what models/churn.json holds
  artifact BLOB NOT NULL,    -- the fitted estimator, as models/churn.joblib holds it
  trained_at TIMESTAMPTZ NOT NULL,
  trained_by VARCHAR,        -- user@host of the process that saved it
  PRIMARY KEY (name, version)
)""",
    "_clv_customers": """
CREATE TABLE IF NOT EXISTS _clv_customers (
  customer_id VARCHAR, until DATE, time_unit VARCHAR, frequency DOUBLE,
  recency DOUBLE, T DOUBLE, monetary DOUBLE, expected_purchases DOUBLE,
  p_alive DOUBLE, expected_value DOUBLE, clv DOUBLE, horizon_months INTEGER,
  discount_rate DOUBLE)""",
    "_clv_fits": """
CREATE TABLE IF NOT EXISTS _clv_fits (
  model VARCHAR, param VARCHAR, value DOUBLE, until DATE, time_unit VARCHAR,
  fitted_at VARCHAR)""",
    "_survival_curves": """
CREATE TABLE IF NOT EXISTS _survival_curves (
  by_column VARCHAR, segment VARCHAR, months DOUBLE, at_risk INTEGER,
  churned INTEGER, survival DOUBLE, ci_lower DOUBLE, ci_upper DOUBLE,
  as_of DATE, ci_transform VARCHAR)""",
    "_survival_summary": """
CREATE TABLE IF NOT EXISTS _survival_summary (
  by_column VARCHAR, segment VARCHAR, customers INTEGER,
  churned INTEGER, median_months DOUBLE, median_ci_lower DOUBLE,
  median_ci_upper DOUBLE, expected_lifespan_months DOUBLE, as_of DATE,
  ci_transform VARCHAR, rmst_months DOUBLE, rmst_horizon_months DOUBLE)""",
    # -- voice of the customer (csmetrics.enrich.sentiment, csmetrics.insights) -------------
    "_text_sentiment": """
CREATE TABLE IF NOT EXISTS _text_sentiment (
  source VARCHAR,        -- canonical table the text comes from
  key VARCHAR,           -- that row's key (response_id, activity_id, feedback_id)
  customer_id VARCHAR,
  written_at TIMESTAMP,  -- when the text was written (responded_at, occurred_at, submitted_at)
  kind VARCHAR,          -- survey (nps, csat...), activity kind (call...) or feedback kind
  text VARCHAR,
  compound DOUBLE,       -- VADER compound score, -1 .. +1
  label VARCHAR,         -- positive / neutral / negative
  scorer VARCHAR,        -- SCORER: which analyser and lexicon gave the score
  PRIMARY KEY (source, key)
)""",
    "_voice_themes": """
CREATE TABLE IF NOT EXISTS _voice_themes (
  theme VARCHAR, label VARCHAR, top_terms VARCHAR[], texts BIGINT, customers BIGINT,
  share DOUBLE, negative_share DOUBLE, mean_sentiment DOUBLE,
  detractor_share DOUBLE,   -- share of NPS detractors' comments in this theme
  promoter_share DOUBLE,    -- share of NPS promoters' comments in this theme
  mrr DOUBLE,               -- MRR on as_of of the customers who raised it
  examples VARCHAR,         -- JSON list of quotes
  as_of DATE, seed BIGINT, computed_at TIMESTAMPTZ
)""",
    "_voice_theme_trend": """
CREATE TABLE IF NOT EXISTS _voice_theme_trend (
  theme VARCHAR, grain VARCHAR, period_start DATE, texts BIGINT, share DOUBLE
)""",
    "_voice_text_themes": """
CREATE TABLE IF NOT EXISTS _voice_text_themes (
  source VARCHAR, key VARCHAR, customer_id VARCHAR, theme VARCHAR, weight DOUBLE
)""",
    "_voice_requests": """
CREATE TABLE IF NOT EXISTS _voice_requests (
  request_id BIGINT, label VARCHAR, customers BIGINT, mrr DOUBLE, texts BIGINT,
  status VARCHAR, statuses VARCHAR, first_asked DATE, last_asked DATE, examples VARCHAR,
  as_of DATE, threshold DOUBLE, computed_at TIMESTAMPTZ
)""",
    "_voice_request_members": """
CREATE TABLE IF NOT EXISTS _voice_request_members (feedback_id VARCHAR, request_id BIGINT)""",
    # -- notifications (csmetrics.alerts.notify) -------------------------------------------
    "_notifications": """
CREATE TABLE IF NOT EXISTS _notifications (
  notification_id BIGINT PRIMARY KEY DEFAULT nextval('_notifications_seq'),
  notice_key VARCHAR NOT NULL,
  event VARCHAR NOT NULL,
  channel VARCHAR NOT NULL,
  recipient VARCHAR NOT NULL,
  subject VARCHAR NOT NULL,
  body VARCHAR NOT NULL,
  html VARCHAR,
  payload VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error VARCHAR,
  created_at TIMESTAMPTZ NOT NULL,
  next_attempt_at TIMESTAMPTZ,
  sent_at TIMESTAMPTZ,
  UNIQUE (notice_key, channel, recipient)
)""",
    "_notification_attachments": """
CREATE TABLE IF NOT EXISTS _notification_attachments (
  notice_key VARCHAR NOT NULL,
  position INTEGER NOT NULL,
  filename VARCHAR NOT NULL,
  media_type VARCHAR NOT NULL,
  content BLOB NOT NULL,
  PRIMARY KEY (notice_key, position)
)""",
    # -- tasks (csmetrics.alerts.tasks) ----------------------------------------------------
    "_tasks": """
CREATE TABLE IF NOT EXISTS _tasks (
  task_id BIGINT PRIMARY KEY,
  rule VARCHAR,
  playbook VARCHAR,
  dedupe_key VARCHAR NOT NULL,
  customer_id VARCHAR,
  subject VARCHAR NOT NULL,
  title VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  figures VARCHAR NOT NULL,
  priority VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  assignee VARCHAR,
  due_date DATE,
  fired_on DATE,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  closed_at TIMESTAMPTZ
)""",
    "_task_steps": """
CREATE TABLE IF NOT EXISTS _task_steps (
  task_id BIGINT NOT NULL,
  position INTEGER NOT NULL,
  title VARCHAR NOT NULL,
  due_date DATE,
  done_at TIMESTAMPTZ,
  done_by VARCHAR,
  PRIMARY KEY (task_id, position)
)""",
    "_task_events": """
CREATE TABLE IF NOT EXISTS _task_events (
  task_id BIGINT NOT NULL,
  happened_at TIMESTAMPTZ NOT NULL,
  actor VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  detail VARCHAR
)""",
    "_rule_state": """
CREATE TABLE IF NOT EXISTS _rule_state (
  rule VARCHAR NOT NULL,
  dedupe_key VARCHAR NOT NULL,
  first_fired DATE NOT NULL,
  last_fired DATE NOT NULL,
  PRIMARY KEY (rule, dedupe_key)
)""",
    # -- report schedules (csmetrics.reports.deliver) --------------------------------------
    "_schedule_runs": """
CREATE TABLE IF NOT EXISTS _schedule_runs (
  schedule VARCHAR NOT NULL,
  period_start DATE NOT NULL,
  cadence VARCHAR NOT NULL,
  period_end DATE NOT NULL,
  notice_key VARCHAR NOT NULL,
  ran_at TIMESTAMPTZ NOT NULL,
  seconds DOUBLE,
  PRIMARY KEY (schedule, period_start)
)""",
    # -- people (csmetrics.store.accounts, csmetrics.web.sessions) -------------------------
    "_users": """
CREATE TABLE IF NOT EXISTS _users (
  username VARCHAR PRIMARY KEY,
  password_hash VARCHAR NOT NULL,
  role VARCHAR NOT NULL,
  disabled BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL
)""",
    "_api_tokens": """
CREATE TABLE IF NOT EXISTS _api_tokens (
  token_id VARCHAR PRIMARY KEY,
  username VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  token_hash VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ
)""",
    "_sessions": """
CREATE TABLE IF NOT EXISTS _sessions (
  session_hash VARCHAR PRIMARY KEY,
  username VARCHAR NOT NULL,
  csrf VARCHAR NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
)""",
}

#: The table that records which migrations a warehouse has had (see ``migrations.py``).
VERSION_TABLE = "_schema_version"
VERSION_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
  version INTEGER PRIMARY KEY,   -- the migration's number
  description VARCHAR NOT NULL,  -- what it did
  applied_by VARCHAR NOT NULL,   -- the csmetrics version that applied it
  applied_at TIMESTAMPTZ NOT NULL
)"""
