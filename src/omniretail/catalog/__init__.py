"""The catalogue: products, variants (SKU, barcode), categories and the one list price."""
