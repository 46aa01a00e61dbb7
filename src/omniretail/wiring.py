"""Which context listens to which event: the one place cross-context reactions are wired."""

from __future__ import annotations

from omniretail.events import HandlerRegistry


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    # Contexts subscribe here as they arrive (loyalty on order completion, analytics, ...).
    return registry
