"""Adapters to outside systems (payments, warehouse), each behind a Protocol with a simulator as default."""
