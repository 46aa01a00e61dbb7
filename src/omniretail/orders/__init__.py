"""Orders from any channel: checkout, sourcing (where each line comes from), fulfilment."""
