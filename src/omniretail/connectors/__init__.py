"""Channel connectors: platform shops feeding orders in and taking stock out."""
