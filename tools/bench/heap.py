"""python -m tools.bench heap: what each feature costs in heap on the emulated board.

Boots the firmware (an mpy-cross build of the working tree) once with every
optional input off, then once per feature, on a generous heap, and prints the
heap in use in the steady state (the least of the samples 15-36 s after boot, each
taken after a collection), the difference each feature makes, and the typical WROOM
configuration against the 150K stand-in (target: >= 25 KB free). Figures are for the
64-bit emulator. --romfs measures a firmware built with ROMFS (emulator --romfs): bytecode
imported in place, not into the heap. --modules instead boots the typical configuration once
and prints what each module's import costs (its own share, without the modules it imports)
and the firmware's live heap blocks by kind.
"""
import argparse
import json
import os
import re
import tempfile

FEATURES_OFF = {"onewire": {"enabled": False}, "mbus": {"enabled": False}, "ct": {"enabled": False},
                "analytics": {"enabled": False}, "mqtt": {"enabled": False}}
FEATURES = ("onewire", "mbus", "ct", "mqtt", "analytics")
TYPICAL = ("onewire", "mbus", "ct", "mqtt")  # issue 2's WROOM-32 typical configuration
BIG_HEAP = 4 * 1024 * 1024
STEADY_WINDOW_S = 21  # two or three of the supervisor's 10 s heap samples after settling


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
        # The free heap is measured every 10 s; a sample may fall inside a meter poll or the
        # discovery burst, with their code loaded. The steady state is the best of a few.
        frees = []

        def sample(s):
            if s["uptime_s"] >= settle_s:
                frees.append(s["free_heap"])
            return s["uptime_s"] >= settle_s + STEADY_WINDOW_S

        state = wait_state(board.http_port, sample, timeout=settle_s + STEADY_WINDOW_S + 60)
        free = max(frees)
        return {"used": heap - free, "free": free, "min_free": state["min_free_heap"],
                "safe_mode": state["safe_mode"], "memory_errors": console(board).count("MemoryError")}
    except AssertionError as exc:
        return {"used": None, "free": None, "min_free": None, "safe_mode": None,
                "memory_errors": console(board).count("MemoryError"), "error": str(exc)[:200]}
    finally:
        board.stop()


def census_boot(scenario, settle_s, broker_port, romfs=False):
    """Boot a scenario on a big heap with the emulator's import census on (its snapshot 3 s
    before settle_s); (console text, the state at settle_s)."""
    from tests.helpers import console, start_board, wait_state
    os.environ["HPMON_IMPORT_CENSUS"] = str(max(2, settle_s - 3))
    try:
        board = start_board(scenario, heap="%d" % BIG_HEAP, broker_port=broker_port, romfs=romfs)
    finally:
        del os.environ["HPMON_IMPORT_CENSUS"]
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= settle_s, timeout=settle_s + 60)
        return console(board), state
    finally:
        board.stop()


def module_census(base, settle_s, broker_port, romfs):
    """Boot the typical configuration with the emulator's import census on; print the imports' costs."""
    text, state = census_boot(feature_scenario(base, TYPICAL), settle_s, broker_port, romfs)
    costs, resident = import_costs(text)
    used = BIG_HEAP - state["free_heap"]
    print("typical configuration%s: %d B in use after %d s" % (" (ROMFS)" if romfs else "", used, settle_s))
    print("%9s  %s" % ("own B", "module (own: without the modules it imports)"))
    kept = 0
    for module, (own, times) in sorted(costs.items(), key=lambda kv: -kv[1][0]):
        held = module in resident or not resident
        kept += own if held else 0
        print("%9d  %s%s" % (own, module, "" if held else "  (transient: loaded %d x, then dropped)" % times))
    print("%9d  modules held at %d s (their first import; a new qstr pool lands on whichever needs it)"
          % (kept, settle_s))
    print("%9d  everything else: the running firmware's objects, qstrs of dropped modules" % (used - kept))
    kinds = block_kinds(text)
    if kinds:
        print("live heap blocks in the firmware's part of the heap, by kind (gc block map, mem_info(1)):")
        for kind, size in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print("%9d  %s" % (size, BLOCK_KINDS.get(kind, kind)))


def import_costs(text):
    """From the emulator's census lines: ({module: [own bytes at its first import, times
    imported]}, set of the modules loaded at the snapshot, empty if there was none)."""
    snapshot = re.search(r"import-census-snapshot modules (\S+)", text)
    resident = set(snapshot.group(1).split(",")) if snapshot else set()
    costs = {}
    for _, own, new, name in re.findall(r"import-census (-?\d+) (-?\d+) (\S+) (\S+)", text):
        new = new.split(",")
        # `from firmware import x` names the package: the module is the new one ending in .x
        module = name if name in new else next((m for m in new if m.endswith("." + name)), new[0])
        entry = costs.setdefault(module, [int(own), 0])
        entry[1] += 1
    return costs, resident


# the letters of MicroPython's gc block map (py/gc.c gc_dump_alloc_table)
BLOCK_KINDS = {"T": "tuples", "L": "lists", "D": "dicts (the object; its table is 'other')", "S": "str/bytes",
               "A": "arrays, bytearrays", "F": "floats", "B": "functions", "M": "modules", "h": "other"}


def block_kinds(text):
    """Bytes per kind of the live blocks inside the firmware's reserve, from a mem_info(1) dump."""
    reserve = re.search(r"import-census-reserve ([0-9a-f]+) (\d+)", text)
    layout = re.search(r"GC memory layout; from ([0-9a-f]+):\n((?:.*\n)+?)(?:\n|\Z|mem:|\d+ info)", text)
    if not reserve or not layout:
        return {}
    lines = re.findall(r"^([0-9a-f]{8}): (\S+)$", layout.group(2), re.M)
    if len(lines) < 2:
        return {}
    per_line = int(lines[1][0], 16) - int(lines[0][0], 16)
    block = per_line // len(lines[0][1])
    lo = int(reserve.group(1), 16) - int(layout.group(1), 16)
    hi = lo + int(reserve.group(2))
    kinds = {}
    current = None
    for offset, cells in lines:
        base = int(offset, 16)
        for i, cell in enumerate(cells):
            at = base + i * block
            if at < lo or at >= hi:
                current = None
                continue
            if cell == "=":
                if current is not None:
                    kinds[current] = kinds.get(current, 0) + block
            elif cell == ".":
                current = None
            else:
                current = cell
                kinds[cell] = kinds.get(cell, 0) + block
    return kinds


def main(argv=None):
    from tests.helpers import Broker
    from tools import paths
    parser = argparse.ArgumentParser(prog="python -m tools.bench heap", description=__doc__)
    parser.add_argument("--scenario", default=os.path.join(paths.ROOT, "scenarios", "default.json"))
    parser.add_argument("--settle", type=int, default=15, help="seconds of running before measuring")
    parser.add_argument("--romfs", action="store_true", help="a firmware built with ROMFS (emulator --romfs)")
    parser.add_argument("--modules", action="store_true", help="each module's import cost, typical configuration")
    args = parser.parse_args(argv)
    broker = Broker()
    try:
        if args.modules:
            module_census(args.scenario, args.settle, broker.port, args.romfs)
            return 0
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
