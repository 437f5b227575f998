"""Proves the dual runner works: this file runs under pytest and under the unix port."""
import sys


def test_runtime_is_known():
    assert sys.implementation.name in ("cpython", "micropython")
