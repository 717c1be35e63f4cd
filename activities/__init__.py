"""Thin Temporal activities: classes built with their dependencies, one idempotent step per method."""
