"""Every context's tables, imported once so that Alembic and tests see the whole schema."""

from omniretail.auth import models as _auth
from omniretail.channels import models as _channels
from omniretail.db import Base
from omniretail.events import OutboxEvent
from omniretail.idempotency import IdempotencyRecord
from omniretail.network import models as _network

metadata = Base.metadata

__all__ = ["IdempotencyRecord", "OutboxEvent", "_auth", "_channels", "_network", "metadata"]
