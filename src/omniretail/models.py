"""Every context's tables, imported once so that Alembic and tests see the whole schema."""

# ruff: noqa: F401  (imported for their side effect: registering tables on the metadata)
from omniretail.analytics import models as analytics_models
from omniretail.auth import models as auth_models
from omniretail.auth import staff_models
from omniretail.catalog import models as catalog_models
from omniretail.channels import models as channels_models
from omniretail.connectors import models as connectors_models
from omniretail.consumers import ConsumedEvent
from omniretail.customers import models as customers_models
from omniretail.db import Base
from omniretail.engagement import groupbuy_models
from omniretail.engagement import models as engagement_models
from omniretail.events import OutboxEvent
from omniretail.idempotency import IdempotencyRecord
from omniretail.inventory import models as inventory_models
from omniretail.loyalty import models as loyalty_models
from omniretail.network import models as network_models
from omniretail.orders import models as orders_models
from omniretail.payments import models as payments_models
from omniretail.pricing import models as pricing_models
from omniretail.returns import models as returns_models
from omniretail.webhooks import models as webhooks_models

metadata = Base.metadata
