"""Alerts: rules that turn metrics and health into tasks for the account's owner, and the
notifications that tell them."""
