"""Payment providers behind one interface: cash, card present (POS), a sandbox online provider.

Points are a tender too, but they are the loyalty ledger's business: checkout redeems them
there. Real gateways (WeChat Pay, Alipay, Stripe) implement the same Protocol.
"""
