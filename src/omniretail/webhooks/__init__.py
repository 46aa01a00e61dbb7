"""Outgoing webhooks: merchants subscribe URLs to our events, delivered signed, with retries."""
