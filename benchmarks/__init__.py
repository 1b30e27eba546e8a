"""Benchmark scripts: figures against a baseline measured in the same run (see common.py)."""
