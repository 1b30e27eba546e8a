"""Corpora: harvesting real translations offline, loading, validating and splitting them."""
