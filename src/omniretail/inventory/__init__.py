"""One stock across every location: positions, ledger, reservations, availability."""
