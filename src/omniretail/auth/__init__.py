"""Tenants, API keys, roles and the permission check every request passes."""
