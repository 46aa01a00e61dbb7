"""The store network: stores, warehouses, dark stores, pickup points, experience stores."""
