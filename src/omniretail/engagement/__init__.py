"""Engagement: outbound messages to customers, and the campaigns that send them."""
