"""Exact money arithmetic on integer minor units: splitting an amount without losing a fen."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder method).

    The parts sum to ``total`` exactly; ties in the remainder go to the earlier weight, so the
    result is deterministic. All-zero weights split evenly.
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    if not weights:
        if total:
            raise ValueError("cannot split a non-zero total over nothing")
        return []
    basis = list(weights) if sum(weights) > 0 else [1] * len(weights)
    whole = sum(basis)
    shares = [total * w // whole for w in basis]
    remainders = [total * w % whole for w in basis]
    short = total - sum(shares)
    for index in sorted(range(len(basis)), key=lambda i: (-remainders[i], i))[:short]:
        shares[index] += 1
    return shares


def percent_of(amount: int, basis_points: int) -> int:
    """``amount`` * basis points / 10,000, rounded half up to the minor unit."""
    return (amount * basis_points + 5_000) // 10_000
