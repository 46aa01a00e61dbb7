"""Loyalty: points ledger, earning rules, tiers and paid membership."""
