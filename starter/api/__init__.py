"""The HTTP API storefronts, agents and partners code against (see API.md)."""
