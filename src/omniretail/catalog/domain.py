"""Pure catalogue rules: barcodes (GTIN check digits) and categories."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"^\d+$")
GTIN_LENGTHS = (8, 12, 13, 14)  # EAN-8, UPC-A, EAN-13, GTIN-14


def gtin_check_digit(body: str) -> int:
    """Check digit for the GTIN family: weights 3,1,3,... from the rightmost body digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def barcode_error(barcode: str) -> str | None:
    """None if ``barcode`` is a valid EAN-8, UPC-A, EAN-13 or GTIN-14, else why not."""
    if not _DIGITS.match(barcode):
        return "a barcode has digits only"
    if len(barcode) not in GTIN_LENGTHS:
        return "a barcode has 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, GTIN-14)"
    if gtin_check_digit(barcode[:-1]) != int(barcode[-1]):
        return "the barcode's check digit is wrong"
    return None


def with_check_digit(body: str) -> str:
    return body + str(gtin_check_digit(body))


def normalise_category(path: str) -> str:
    """Categories are paths such as ``women/dresses``: trimmed, lower case, single slashes."""
    parts = [part.strip().lower() for part in path.split("/")]
    return "/".join(part for part in parts if part)


def category_matches(category: str, scope: str) -> bool:
    """``women`` covers ``women/dresses``; ``women/dress`` does not cover ``women/dresses``."""
    return category == scope or category.startswith(scope + "/")
