"""One price everywhere (EDLP): the list price plus explicit, visible promotions and coupons."""
