"""The data hub: sales facts kept by projections from the outbox, and the reports on them."""
