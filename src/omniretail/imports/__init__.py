"""CSV import and export of locations and products, in the shape merchants keep spreadsheets."""
