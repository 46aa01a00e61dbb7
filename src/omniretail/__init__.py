"""Omniretail: one customer, one stock, one price on every channel."""

__version__ = "0.1.0"
