"""Shared test helpers: tiny models and datasets built locally (no downloads), reused by several suites."""
