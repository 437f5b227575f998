"""python -m tools.bench heap: what each feature costs in heap on the emulated board.

Boots the firmware (an mpy-cross build of the working tree) once with every
optional input off, then once per feature, on a generous heap, and prints the
heap in use after ~15 s of running (after a collection), the difference each
feature makes, and the typical WROOM configuration against the 150K stand-in
(target: >= 25 KB free). Figures are for the 64-bit emulator. --romfs measures a
firmware built with ROMFS (emulator --romfs): bytecode imported in place, not into the heap.
"""
import argparse
import json
import os
import tempfile

FEATURES_OFF = {"onewire": {"enabled": False}, "mbus": {"enabled": False}, "ct": {"enabled": False},
                "analytics": {"enabled": False}, "mqtt": {"enabled": False}}
FEATURES = ("onewire", "mbus", "ct", "mqtt", "analytics")
TYPICAL = ("onewire", "mbus", "ct", "mqtt")  # issue 2's WROOM-32 typical configuration
BIG_HEAP = 4 * 1024 * 1024


def feature_scenario(base_path, enabled):
    with open(base_path) as f:
        scenario = json.load(f)
    cfg = scenario.setdefault("config", {})
    for key, value in FEATURES_OFF.items():
        section = cfg.setdefault(key, {})
        section.update(value)
        if key in enabled:
            section["enabled"] = True
    path = os.path.join(tempfile.mkdtemp(prefix="bench-heap-"), "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    return path


def measure(base, enabled, heap=BIG_HEAP, settle_s=15, broker_port=None, romfs=False):
    from tests.helpers import console, start_board, wait_state
    board = start_board(feature_scenario(base, enabled), heap="%d" % heap, broker_port=broker_port, romfs=romfs)
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= settle_s, timeout=settle_s + 60)
        return {"used": heap - state["free_heap"], "free": state["free_heap"], "min_free": state["min_free_heap"],
                "safe_mode": state["safe_mode"], "memory_errors": console(board).count("MemoryError")}
    except AssertionError as exc:
        return {"used": None, "free": None, "min_free": None, "safe_mode": None,
                "memory_errors": console(board).count("MemoryError"), "error": str(exc)[:200]}
    finally:
        board.stop()


def main(argv=None):
    from tests.helpers import Broker
    from tools import paths
    parser = argparse.ArgumentParser(prog="python -m tools.bench heap", description=__doc__)
    parser.add_argument("--scenario", default=os.path.join(paths.ROOT, "scenarios", "default.json"))
    parser.add_argument("--settle", type=int, default=15, help="seconds of running before measuring")
    parser.add_argument("--romfs", action="store_true", help="a firmware built with ROMFS (emulator --romfs)")
    args = parser.parse_args(argv)
    broker = Broker()
    try:
        base = measure(args.scenario, (), settle_s=args.settle, broker_port=broker.port, romfs=args.romfs)
        print("%-22s %9s %9s%s" % ("configuration", "used B", "delta B", "   (ROMFS)" if args.romfs else ""))
        print("%-22s %9s %9s" % ("core (no inputs)", base["used"], "-"))
        for feature in FEATURES:
            m = measure(args.scenario, (feature,), settle_s=args.settle, broker_port=broker.port, romfs=args.romfs)
            delta = None if m["used"] is None or base["used"] is None else m["used"] - base["used"]
            print("%-22s %9s %9s" % ("+ " + feature, m["used"], delta), flush=True)
        typical = measure(args.scenario, TYPICAL, settle_s=args.settle, broker_port=broker.port, romfs=args.romfs)
        print("%-22s %9s" % ("typical (" + "+".join(TYPICAL) + ")", typical["used"]))
        wroom = measure(args.scenario, TYPICAL, heap=150 * 1024, settle_s=args.settle, broker_port=broker.port,
                        romfs=args.romfs)
        print("typical at --heap 150K: free %s B (min %s), safe mode %s, MemoryErrors %d; target >= 25600 B free"
              % (wroom["free"], wroom["min_free"], wroom["safe_mode"], wroom["memory_errors"]))
    finally:
        broker.stop()
    return 0
