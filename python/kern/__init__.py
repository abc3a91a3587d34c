"""Kern: a durable runtime for AI agents (Python package)."""
