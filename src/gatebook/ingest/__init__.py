"""Doors into the ledger for metrics that do not come through the API."""
