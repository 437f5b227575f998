"""Runs the pure-module tests (tests/pure/test_*.py) under the MicroPython unix port.

Each test module is imported and every module-level function named test_* is called
with no arguments. Run from the repo root:
    MICROPYPATH=.:.frozen micropython tests/upy_runner.py [module ...]
Prints one line per failure and a closing 'N passed, N failed' line; exits 1 on failure.
"""
import os
import sys

sys.path.insert(0, ".")
sys.path.insert(0, "tests/pure")


def discover():
    return sorted(n[:-3] for n in os.listdir("tests/pure") if n.startswith("test_") and n.endswith(".py"))


def main(names):
    passed = failed = 0
    for name in names or discover():
        try:
            module = __import__(name)
        except Exception as exc:  # an import error fails the whole module
            failed += 1
            print("FAIL", name, "(import)", repr(exc))
            sys.print_exception(exc)
            continue
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            func = getattr(module, attr)
            if not callable(func):
                continue
            try:
                func()
                passed += 1
            except Exception as exc:
                failed += 1
                print("FAIL", name + "." + attr, repr(exc))
                sys.print_exception(exc)
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
