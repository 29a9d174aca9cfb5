"""Sample exports of Stripe, HubSpot, Zendesk and an NPS tool, with tested mapping files."""
