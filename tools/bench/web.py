"""python -m tools.bench web: the dashboard's budgets (issue 7), measured on the emulated board.

Prints:
- first load: every asset the dashboard page loads, bytes on the wire (gzipped), and the total
  (budget <= 30 KB);
- /api/state: size of the compact document (budget <= 2 KB) and the time to answer it,
  median and worst of 50 requests (budget <= 50 ms on the emulated board; the ESP32 is
  30-50x slower than this host, so the figure is a floor for the real board);
- heap with two dashboards holding event streams, on a WROVER stand-in (--heap 2M) and with the
  typical configuration on the WROOM-32 stand-in (--heap 150K; budget >= 25 KB free).
"""
import argparse
import http.client
import os
import re
import statistics
import time

ASSET = re.compile(r'(?:src|href)="(/[^"]*)"')


def _get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, dict(resp.getheaders()), body
    finally:
        conn.close()


def first_event(port):
    """Bytes of the event stream's first event (every channel, with units)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        size = 0
        while True:
            line = resp.fp.readline()
            size += len(line)
            if line in (b"\n", b""):
                return size
    finally:
        conn.close()


def first_load(port, history_points):
    """[(what, bytes on the wire)] of what the dashboard loads when it opens: the page, the
    script and style it references, /api/auth, the first event, the charts' history (measured
    on the samples there are now, and scaled to a full ring of history_points)."""
    import gzip
    status, headers, body = _get(port, "/")
    out = [("/", len(body))]
    html = gzip.decompress(body).decode() if headers.get("Content-Encoding") == "gzip" else body.decode()
    for path in sorted(set(p for p in ASSET.findall(html) if p.endswith((".js", ".css")))):
        _s, _h, asset = _get(port, path)
        out.append((path, len(asset)))
    out.append(("/api/auth", len(_get(port, "/api/auth")[2])))
    out.append(("/api/events (first event)", first_event(port)))
    import json
    names = "heatpump_elec,heatpump_heat,heatpump_cop,heatpump_flowT,heatpump_returnT,heatpump_outsideT"
    raw = _get(port, "/api/history?minutes=240&channels=" + names)[2]
    n = len(json.loads(raw)["dt"])
    empty = len(json.dumps({"step_s": 60, "t0": None, "dt": [], "series": {k: [] for k in names.split(",")}},
                           separators=(",", ":")))
    full = empty + (len(raw) - empty) * history_points // max(n, 1)
    out.append(("/api/history (%d samples now)" % n, len(raw)))
    out.append(("/api/history, %d samples (scaled)" % history_points, full))
    return out


def state_timing(port, n=50):
    sizes, times = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        _s, _h, body = _get(port, "/api/state")
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(body))
    return max(sizes), statistics.median(times), max(times)


def heap_with_streams(port, clients=2, seconds=30):
    """Free heap (min over the run) while `clients` event streams stay open and are read."""
    import threading
    stop = threading.Event()
    conns = []

    def reader(conn, resp):
        try:
            while not stop.is_set():
                if not resp.fp.readline():
                    return
        except OSError:
            return

    for _ in range(clients):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        conns.append(conn)
        threading.Thread(target=reader, args=(conn, resp), daemon=True).start()
    from tests.helpers import get_json
    lowest = None
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            s = get_json(port)
            lowest = s["min_free_heap"]
            time.sleep(2)
    finally:
        stop.set()
        for conn in conns:
            conn.close()
    return lowest


def _board(scenario, heap, broker_port):
    from tests.helpers import start_board, wait_state
    board = start_board(scenario, heap=heap, broker_port=broker_port)
    try:
        wait_state(board.http_port, lambda s: s["uptime_s"] >= 15, timeout=90)
    except AssertionError:
        board.stop()
        raise
    return board


def main(argv=None):
    from tests.helpers import Broker, console
    from tools import paths
    from tools.bench.heap import TYPICAL, feature_scenario
    parser = argparse.ArgumentParser(prog="python -m tools.bench web", description=__doc__)
    parser.add_argument("--scenario", default=os.path.join(paths.ROOT, "scenarios", "default.json"))
    parser.add_argument("--seconds", type=int, default=30, help="how long the event streams stay open")
    args = parser.parse_args(argv)
    broker = Broker()
    try:
        # history every 10 s instead of 60, so the ring has samples to scale from
        import json
        import tempfile

        from tests.helpers import write_scenario
        with open(args.scenario) as f:
            config = json.load(f).get("config", {})
        config["web"] = {"history_s": 10}
        scenario = write_scenario(os.path.join(tempfile.mkdtemp(prefix="bench-web-"), "web.json"),
                                  args.scenario, config=config)
        board = _board(scenario, "2M", broker.port)
        try:
            time.sleep(20)
            load = first_load(board.http_port, 240)
            print("first load of the dashboard (bytes on the wire):")
            for path, n in load:
                print("  %-36s %7d" % (path, n))
            total = sum(n for p, n in load if "samples now" not in p)
            print("  %-36s %7d   (budget 30720)" % ("total, with a full history ring", total))
            size, median, worst = state_timing(board.http_port)
            print("/api/state: %d bytes (budget 2048), answered in %.1f ms median, %.1f ms worst of 50 "
                  "(budget 50 ms)" % (size, median, worst))
            low = heap_with_streams(board.http_port, seconds=args.seconds)
            print("--heap 2M, default scenario, 2 event streams: min free heap %s B" % low)
        finally:
            board.stop()
        try:
            board = _board(feature_scenario(args.scenario, TYPICAL), "150K", broker.port)
        except AssertionError as exc:
            print("--heap 150K, typical configuration: did not come up (%s)" % str(exc)[:200])
            return 0
        try:
            low = heap_with_streams(board.http_port, seconds=args.seconds)
            from tests.helpers import get_json
            state = get_json(board.http_port)
            print("--heap 150K, typical configuration, 2 event streams: min free heap %s B (budget >= 25600), "
                  "failed services %s, MemoryErrors in the log %d"
                  % (low, state["failed_services"] or "none", console(board).count("MemoryError")))
        finally:
            board.stop()
    finally:
        broker.stop()
    return 0
