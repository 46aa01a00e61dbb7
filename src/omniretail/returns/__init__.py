"""Returns and after-sales through any channel: refunds, restock, exchanges, cases."""
