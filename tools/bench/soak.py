"""python -m tools.bench soak: the firmware run for many reporting cycles on the emulated board.

Two runs, each with MQTT (a real mosquitto), emoncms (a recording stand-in) and two dashboard
event streams open the whole time:
- the typical configuration (tools/bench/heap.py TYPICAL) at --heap 150K (WROOM-32 stand-in);
- every driver (scenarios/all-drivers.json) at --heap 2M (WROVER stand-in).

The issue asks for 7 days of 10 s cycles (60480). The board's clock runs --speed times faster
and the reporting interval is shortened (--interval, board seconds), so a run takes
cycles x interval / speed seconds of wall time. CT sampling limits --speed to 5 (docs/scenario.md:
at N >= 10 every sample burst is late and dropped), so at interval 2 s a host does ~2.5 cycles/s:
60480 cycles is ~6.7 h per run. The default --cycles is what fits in a few minutes; pass
--cycles 60480 for the full week.

Figures per run: cycles, MemoryErrors in the console (must be 0), resets, minimum free heap
(target >= 25600 B), heap growth after warm-up (target: none), longest scheduler stall, and
readings lost (must be 0; definition printed with the figures).
"""
import argparse
import http.client
import json
import os
import tempfile
import threading
import time

HISTORY_POINTS = 12
WEEK_CYCLES = 7 * 24 * 3600 // 10
CHANNEL = "heatpump_flowT"  # a reading every cycle in both configurations (DS18B20 on the flow pipe)
LOST_DEFINITION = (
    "readings lost = for each sink, the reporting cycles between the first and the last %s reading it "
    "received that it has no reading for (emoncms: by the readings' timestamps; MQTT: cycles spanned "
    "by the arrival times on the board's clock minus messages received, live and backfilled), plus the "
    "readings the board's forward buffer reports dropped; readings still pending at the end are "
    "printed, not counted" % CHANNEL)


class Streams:
    """`n` dashboard clients holding /api/events open and reading every event."""

    def __init__(self, port, n=2):
        self.stop_flag = threading.Event()
        self.events = [0] * n
        self.conns = []
        for i in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/events")
            resp = conn.getresponse()
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(i, resp), daemon=True).start()

    def _read(self, i, resp):
        try:
            while not self.stop_flag.is_set():
                line = resp.fp.readline()
                if not line:
                    return
                if line.startswith(b"data:"):
                    self.events[i] += 1
        except (OSError, ValueError):
            return

    def close(self):
        self.stop_flag.set()
        for conn in self.conns:
            conn.close()


def soak_scenario(base, interval_s, emoncms, typical=False):
    """The scenario file of one run: interval shortened, MQTT and emoncms on."""
    if typical:
        from tools.bench.heap import TYPICAL, feature_scenario
        base = feature_scenario(base, TYPICAL)
    with open(base) as f:
        scenario = json.load(f)
    cfg = scenario.setdefault("config", {})
    cfg["interval_s"] = interval_s
    # a chart ring that fills during the warm-up (HISTORY_POINTS x 10 s), so its growth is not
    # mistaken for a leak; the default ring (240 x 60 s) takes 4 h of board time to fill
    cfg.setdefault("web", {}).update(history_s=10, history_points=HISTORY_POINTS)
    cfg.setdefault("mqtt", {})["enabled"] = True
    cfg["emoncms"] = {"enabled": True, "url": "http://127.0.0.1:%d/emoncms" % emoncms.port,
                      "apikey": emoncms.apikey}
    path = os.path.join(tempfile.mkdtemp(prefix="bench-soak-"), "soak.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    return path


def _emoncms_lost(records, interval_s):
    stamps = sorted(set(t for t, values in records if CHANNEL in values))
    if not stamps:
        return None, 0, []
    span = (stamps[-1] - stamps[0]) // interval_s + 1
    holes = [(a, b) for a, b in zip(stamps, stamps[1:]) if b - a > interval_s]
    return max(0, span - len(stamps)), len(stamps), holes[:5]


def _mqtt_lost(arrivals, board, interval_s):
    if not arrivals:
        return None, 0
    first, last = board.virtual_now(), 0
    for t in arrivals:
        v = board.start_s + (t - board.epoch_ms / 1000.0) * board.speed
        first, last = min(first, v), max(last, v)
    span = int(round((last - first) / interval_s)) + 1
    return max(0, span - len(arrivals)), len(arrivals)


def run(scenario, heap, cycles, interval_s, speed, broker_port, emoncms, label, clients=2, warmup=0.2,
        progress=None):
    """One soak run; returns a dict of figures (see print_report)."""
    from tests.helpers import Subscriber, console, get_json, start_board, wait_until
    out = {"label": label, "heap": heap, "cycles_asked": cycles, "interval_s": interval_s, "speed": speed}
    with open(scenario) as f:
        node = json.load(f).get("config", {}).get("node", "hpmon")
    sub = Subscriber(broker_port, "emon/%s/%s" % (node, CHANNEL), "emon/%s" % node)
    emoncms.requests.clear()
    board = start_board(scenario, broker_port=broker_port, heap=heap, speed=speed)
    t0 = time.time()
    streams = None
    samples = []  # (uptime_s, free_heap)
    try:
        ok = wait_until(lambda: _state(get_json, board) is not None, timeout=60, every=0.5)
        state = _state(get_json, board) if ok else None
        if state is not None and (state["safe_mode"] or state["config_errors"]):
            # a board that falls over on start may take a few restarts to settle in safe mode
            time.sleep(3)
            state = _state(get_json, board) or state
            out["did_not_start"] = "safe mode %s, config errors %s" % (state["safe_mode"], state["config_errors"])
        elif state is None:
            out["did_not_start"] = "no /api/state within 60 s"
        if "did_not_start" not in out:
            streams = Streams(board.http_port, clients)
            run_s = cycles * interval_s  # board seconds of reporting, from power-on
            start_up = 0
            while True:
                state = _state(get_json, board)
                if state is not None:
                    samples.append((state["uptime_s"], state["free_heap"]))
                    if state["uptime_s"] - start_up >= run_s:
                        break
                if len(board.boots) > 1:
                    break
                if progress and len(samples) % 30 == 1 and state is not None:
                    progress("  %s: board %d/%d s, free heap %s B"
                             % (label, state["uptime_s"] - start_up, run_s, state["free_heap"]))
                time.sleep(1.0)
            time.sleep(3)  # let the last cycle's readings reach the sinks
            state = _state(get_json, board) or state
        out["state"] = state
    finally:
        if streams is not None:
            out["events"] = list(streams.events)
            streams.close()
        board.stop()
        sub.stop()
    out["wall_s"] = time.time() - t0
    log = console(board)
    out["memory_errors"] = log.count("MemoryError")
    out["resets"] = len(board.boots) - 1
    if "did_not_start" in out:
        return out
    state = out["state"]
    out["min_free"] = state["min_free_heap"]
    out["stall_ms"] = state["longest_stall_ms"]
    out["failed_services"] = state["failed_services"]
    # warm-up: the first `warmup` of the run, and at least until the chart ring is full
    settle = max(warmup * samples[-1][0], HISTORY_POINTS * 10 + 10)
    steady = [f for u, f in samples if u >= settle]
    step = max(1, len(samples) // 8)
    out["trajectory"] = samples[::step] + samples[-1:]
    third = max(1, len(steady) // 3)
    out["heap_growth"] = (sum(steady[:third]) / third - sum(steady[-third:]) / third) if steady else None
    fwd = state.get("forward", {})
    e_lost, e_n, out["emoncms_holes"] = _emoncms_lost(emoncms.records(), interval_s)
    live = [m[3] for m in sub.messages if m[0].endswith("/" + CHANNEL)]
    backfilled = sum(1 for m in sub.messages if m[0] == "emon/%s" % node and CHANNEL in m[1])
    m_lost, m_n = _mqtt_lost(live, board, interval_s)
    out["cycles"] = max(e_n, m_n + backfilled)
    out["sinks"] = {
        "emoncms": {"received": e_n, "gaps": e_lost, "dropped": fwd.get("emoncms", {}).get("dropped"),
                    "pending": fwd.get("emoncms", {}).get("pending")},
        "mqtt": {"received": m_n + backfilled, "gaps": None if m_lost is None else max(0, m_lost - backfilled),
                 "dropped": fwd.get("mqtt", {}).get("dropped"), "pending": fwd.get("mqtt", {}).get("pending")},
    }
    lost = 0
    for sink in out["sinks"].values():
        if sink["gaps"] is None:
            lost = None
            break
        lost += sink["gaps"] + (sink["dropped"] or 0)
    out["readings_lost"] = lost
    return out


def _state(get_json, board):
    try:
        return get_json(board.http_port)
    except (OSError, ValueError):
        return None


def print_report(r):
    print("%s, --heap %s, interval %d s, --speed %d, web.history %d x 10 s:"
          % (r["label"], r["heap"], r["interval_s"], r["speed"], HISTORY_POINTS))
    if "did_not_start" in r:
        print("  did not start: %s; resets %d, MemoryErrors %d (%.0f s wall)"
              % (r["did_not_start"], r["resets"], r["memory_errors"], r["wall_s"]))
        return
    print("  cycles                 %d (asked %d; %.0f s wall)" % (r["cycles"], r["cycles_asked"], r["wall_s"]))
    print("  MemoryErrors           %d (must be 0); resets %d; failed services %s"
          % (r["memory_errors"], r["resets"], r["failed_services"] or "none"))
    print("  min free heap          %s B (target >= 25600)" % r["min_free"])
    print("  heap growth            %s B after warm-up (first vs last third of the free-heap samples "
          "after a warm-up of max(20%% of the run, %d s: chart ring full); target: none)"
          % (None if r["heap_growth"] is None else "%+.0f" % r["heap_growth"], HISTORY_POINTS * 10 + 10))
    print("  free heap (board s, B) %s" % " ".join("%d:%d" % p for p in r["trajectory"]))
    print("  longest sched. stall   %s ms of board time (= %.0f ms host time at --speed %d)"
          % (r["stall_ms"], (r["stall_ms"] or 0) / r["speed"], r["speed"]))
    print("  readings lost          %s (must be 0)" % r["readings_lost"])
    for name, s in sorted(r["sinks"].items()):
        print("    %-8s received %s, gaps %s, dropped by the board %s, pending at the end %s"
              % (name, s["received"], s["gaps"], s["dropped"], s["pending"]))
    if r.get("emoncms_holes"):
        print("    emoncms holes (timestamps either side) %s" % r["emoncms_holes"])
    print("  dashboard events read  %s" % r.get("events"))


def main(argv=None):
    import sys

    from tests.helpers import Broker
    from tests.integration.conn_helpers import Emoncms
    from tools import paths
    parser = argparse.ArgumentParser(prog="python -m tools.bench soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=300, help="reporting cycles per run (a week at 10 s: %d)"
                        % WEEK_CYCLES)
    parser.add_argument("--interval", type=int, default=2,
                        help="reporting interval, board seconds (emoncms timestamps are whole seconds: >= 2)")
    parser.add_argument("--speed", type=int, default=5, help="board clock speed-up (CT sampling: <= 5)")
    parser.add_argument("--only", choices=("150K", "2M"), help="one of the two runs")
    args = parser.parse_args(argv)
    scen = os.path.join(paths.ROOT, "scenarios")
    broker, emoncms = Broker(), Emoncms()
    print(LOST_DEFINITION)
    try:
        runs = [("typical (%s)" % "+".join(__import__("tools.bench.heap", None, None, ["TYPICAL"]).TYPICAL),
                 os.path.join(scen, "default.json"), "150K", True),
                ("all drivers", os.path.join(scen, "all-drivers.json"), "2M", False)]
        for label, base, heap, typical in runs:
            if args.only and args.only != heap:
                continue
            path = soak_scenario(base, args.interval, emoncms, typical=typical)
            r = run(path, heap, args.cycles, args.interval, args.speed, broker.port, emoncms, label,
                    progress=lambda s: print(s, file=sys.stderr, flush=True))
            print_report(r)
            sys.stdout.flush()
    finally:
        broker.stop()
        emoncms.close()
    return 0
