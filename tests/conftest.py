"""pytest setup: the repo root and the CPython shims go first on sys.path."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
for path in (os.path.join(ROOT, "tests", "cpython_shims"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
