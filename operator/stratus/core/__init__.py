"""Mechanics every kind shares: API access, conditions, errors, metrics."""
