"""python -m tools.bench <benchmark> [options]: print figures. Benchmarks: power, heap, heap32, web, soak."""
import sys

BENCHMARKS = {"power": "tools.bench.power", "heap": "tools.bench.heap", "web": "tools.bench.web",
              "soak": "tools.bench.soak", "heap32": "tools.bench.heap32"}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print("usage: python -m tools.bench {%s} [options]" % ",".join(sorted(BENCHMARKS)))
        return 2
    module = __import__(BENCHMARKS[argv[0]], None, None, ["main"])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
