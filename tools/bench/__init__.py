"""Benchmarks (figures, not tests): python -m tools.bench <name>."""
