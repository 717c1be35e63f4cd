"""Deterministic orchestration: the order workflow and what it exchanges with its callers."""
