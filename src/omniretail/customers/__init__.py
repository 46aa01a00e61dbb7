"""Customers: one person across every channel (identity graph, profile, consent, behaviour)."""
