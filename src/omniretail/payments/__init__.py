"""Payment providers behind one interface: cash, card present (POS), a sandbox online provider,
and the remote gateways WeChat Pay APIv3 and Alipay (signed requests, verified answers).

Points are a tender too, but they are the loyalty ledger's business: checkout redeems them
there. A gateway's refund is recorded with the change that owes it and sent after commit
(``refunds.py``).
"""
