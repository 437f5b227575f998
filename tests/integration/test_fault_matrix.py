"""The faults of the reliability matrix (docs/reliability.md) that no other test injects, on the
emulated board with a real mosquitto. One board per class (class-scoped fixture, stopped when its
class ends), each well under a minute:

- TestStorage (scenarios/day.json with steady running values, 30 x): the flash file system and
  NVS full, a power cut in the middle of a settings save, a power cut during the NVS commit of
  the energy totals;
- TestStuckTask (10 x): a silent M-Bus meter on a line that never goes quiet keeps the M-Bus task
  in its listen loop; the supervisor stops feeding the watchdog, the board resets, the totals
  are intact;
- TestNetwork (1 x): emoncms answering 500, emoncms accepting and never answering, DNS failing
  (with a broker restart, so that MQTT has to look the name up again);
- TestWifiHours (300 x): the Wi-Fi gone for two hours (MQTT);
- TestMeters (1 x): an M-Bus meter slow but within EN 13757-2, one far too slow, two meters on
  one primary address;
- TestGarbageConfig: a config.json of random bytes;
- TestVfsSensorLost (1 x): the return DS18B20 of the VFS heat path unplugged.

For each: what keeps working, what is reported, and that no reading or energy is lost or
invented (compared with the scenario's truth, tools/emulator/sim/simworld.py).
"""
import base64
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from firmware.analytics_persist import decode_blob
from tests.helpers import (
    Subscriber,
    ap_password,
    console,
    get_json,
    start_board,
    wait_state,
    wait_until,
    write_scenario,
)
from tests.integration.conn_helpers import ControlledBroker, gaps, scenario
from tools import paths

DAY = os.path.join(paths.ROOT, "scenarios", "day.json")
DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
PASSWORD = "correct horse"
ELEC_W, HEAT_W = 1500.0, 5000.0
FLOW_ROM = "28ff641e821603e2"


def _world():
    if paths.SIM_DIR not in sys.path:
        sys.path.append(paths.SIM_DIR)
    import simworld
    return simworld


def _running(path, config=None, **changes):
    """scenarios/day.json with the heat pump running steadily (as test_analytics_reboot.py):
    Modbus import register, M-Bus heat register, S0 pulses integrated on the board."""
    with open(DAY) as f:
        base = json.load(f)
    cfg = base["config"]
    cfg.update(interval_s=10, watchdog_s=120)
    cfg["pulse"] = {"enabled": True, "wh_per_pulse": 1.0, "poll_ms": 500}
    cfg.update(config or {})
    meter = dict(base["modbus_meter"], power_w=ELEC_W)
    heat = dict(base["heat_meter"], power_w=HEAT_W, flow_m3h=0.86, flowT=38.0, returnT=33.0)
    fields = dict(config=cfg, timeline=[], modbus_meter=meter, heat_meter=heat,
                  pulse={"wh_per_pulse": 1, "power_w": ELEC_W}, start_time="2026-03-10T10:00:00Z", faults=[])
    fields.update(changes)
    return write_scenario(path, DAY, **fields)


def request(board, method, path, body=None, headers=None, timeout=20):
    """(status, parsed JSON or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", board.http_port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw
    finally:
        conn.close()


def basic():
    return {"Authorization": "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode()}


def set_admin_password(board):
    status, doc = request(board, "POST", "/api/auth/setup", {"password": PASSWORD, "ap_password": ap_password(board)})
    assert status == 200, doc


def world_now(board):
    return board.world_time(board.virtual_now())


def until(board, world_s):
    """Sleep until the board's world clock reads world_s (the board's clock may run N x)."""
    delay = (world_s - world_now(board)) / board.speed
    if delay > 0:
        time.sleep(delay)


def no_traceback(board):
    text = console(board)
    assert "Traceback" not in text and "MemoryError" not in text, text[-3000:]


class Recorder:
    """Polls /api/state (and the NVS file) of a board in the background: [(world s, boots, state)]."""

    def __init__(self, board, every=0.2):
        self.board = board
        self.every = every
        self.states = []
        self.nvs = []  # (boots, {name: (kind, rec)}) whenever the NVS totals change
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        last_blob = None
        while not self._stop:
            boots = len(self.board.boots)
            try:
                state = get_json(self.board.http_port, timeout=3)
                self.states.append((world_now(self.board), boots, state))
            except (OSError, ValueError):
                pass
            blob = _nvs_blob(self.board, "totals")
            if blob != last_blob:
                last_blob = blob
                self.nvs.append((boots, decode_blob(blob)))
            time.sleep(self.every)

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)

    def series(self, name, since=0.0):
        """[(world s, boots, value, status, ts)] of one channel."""
        out = []
        for ws, boots, state in list(self.states):
            ch = state.get("channels", {}).get(name)
            if ch is not None and ws >= since:
                out.append((ws, boots, ch["value"], ch["status"], ch["ts"]))
        return out

    def latest(self, name, boots=None):
        """The last sample of a channel that has a value and a time (of one boot, if given)."""
        found = [x for x in self.series(name) if x[2] is not None and x[4] and (boots is None or x[1] == boots)]
        assert found, (name, boots, self.series(name)[-3:])
        return found[-1]

    def last(self, since=0.0):
        for ws, _boots, state in reversed(list(self.states)):
            if ws >= since:
                return state
        return None


def _state_dir(tmp):
    path = os.path.join(str(tmp), "board")
    os.makedirs(path, exist_ok=True)
    return path


def _stop(*parts):
    for part in parts:
        if part is not None:
            part.stop()


def _nvs_blob(board, key):
    try:
        with open(os.path.join(board.state_dir, "nvs.json")) as f:
            entry = json.load(f).get("hpmon", {}).get(key)
    except (OSError, ValueError):
        return None
    return bytes.fromhex(entry[1]) if entry else None


def _register_truth(board, name, ts):
    """What a meter register reads at a board timestamp (the scenario's truth)."""
    world = _world().World(board.scenario)
    path, initial = {"heatpump_elec_wh": ("modbus_meter.power_w", board.scenario["modbus_meter"]["import_wh_initial"]),
                     "heatpump_heat_wh": ("heat_meter.power_w", board.scenario["heat_meter"]["energy_wh_initial"]),
                     }[name]
    return initial + world._track(path).integral(board.world_time(ts), positive=True) / 3600.0


def check_register(board, name, ts, value):
    """A meter register total equals the meter's register (read up to ~10 s before its time)."""
    truth = _register_truth(board, name, ts)
    assert -12 <= value - truth <= 2, (name, ts, value, truth)


# =====================================================================================
# Flash full, and power cuts while the flash is written


SPEED = 30
FULL = (150, 450)          # world s: the file system and the NVS partition are full
BROKER_DOWN = (100, 470)   # the broker is away through it, so readings pile up for flash
SECOND_OUTAGE = (560, 800)  # the broker away again, now with room in flash
CUT_SETTINGS = 850          # a power cut armed for the next write of config.json.tmp
CUT_TOTALS = 1100           # a power cut armed for the next NVS commit of the totals
MIN_INTERVAL_S = 60         # totals.min_interval_s (the default)


@pytest.fixture(scope="class")
def storage(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("storage")
    path = _running(str(tmp / "storage.json"), faults=[
        {"kind": "fs_full", "at_s": FULL[0], "until_s": FULL[1]},
        {"kind": "flash_full", "at_s": FULL[0], "until_s": FULL[1]},
        {"kind": "power_cut_write", "target": "config.json.tmp", "at_s": CUT_SETTINGS},
        {"kind": "power_cut_nvs", "target": "totals", "at_s": CUT_TOTALS}])
    broker = ControlledBroker().start()
    board = rec = None
    try:
        board = start_board(path, broker_port=broker.port, speed=SPEED, state_dir=_state_dir(tmp))
        rec = Recorder(board)
        set_admin_password(board)
        yield {"board": board, "broker": broker, "rec": rec}
    finally:
        _stop(rec, board)
        broker.close()


def _ready(state):
    ch = state["channels"]
    return all(ch.get(n, {}).get("ts") and ch[n]["value"] is not None
               for n in ("pulse_wh", "heatpump_elec_wh", "heatpump_heat_wh"))


def _pulse_bound_wh():
    """What a power cut may lose of the board-integrated pulse total: the energy since the last
    completed flash write (throttled to min_interval_s) plus one interval of readings."""
    return ELEC_W * (MIN_INTERVAL_S + 2 * 10 + 5) / 3600.0


class TestStorage:
    def test_flash_full_keeps_measuring_refuses_settings_and_says_why(self, storage):
        board, broker, rec = storage["board"], storage["broker"], storage["rec"]
        wait_state(board.http_port, _ready, timeout=20)
        until(board, BROKER_DOWN[0])
        broker.stop()
        until(board, FULL[0] + 100)
        with open(os.path.join(board.flash_dir, "config.json")) as f:
            saved = f.read()
        status, doc = request(board, "POST", "/api/config", {"node": "loft"}, basic())
        # nothing half-written: the old file stands, no temp file is left behind
        assert status == 400 and doc["errors"]["_"] == "could not save config.json: flash full (errno 28)", doc
        with open(os.path.join(board.flash_dir, "config.json")) as f:
            assert f.read() == saved
        assert "config.json.tmp" not in os.listdir(board.flash_dir)
        until(board, FULL[1] - 10)
        text = console(board)
        assert "analytics: saving totals to flash failed" in text and "(kept in RTC memory)" in text, text[-2000:]
        # measuring goes on: pulses are counted and the registers read inside the window, and
        # the integrated total follows the truth (it lives in RTC memory meanwhile)
        inside = [x for x in rec.series("pulse_wh", FULL[0]) if x[4] and board.world_time(x[4]) > FULL[0] + 20]
        assert len({x[4] for x in inside}) >= 10, inside[-3:]
        first, last = inside[0], inside[-1]
        counted = last[2] - first[2]
        truth = ELEC_W * (board.world_time(last[4]) - board.world_time(first[4])) / 3600.0
        assert abs(counted - truth) <= 3 + ELEC_W * 2 * 10 / 3600.0, (first, last, truth)
        for name in ("heatpump_elec_wh", "heatpump_heat_wh"):
            x = rec.latest(name)
            check_register(board, name, x[4], x[2])
        # readings that found neither the broker nor room in flash are counted, not hidden
        fwd = rec.last()["forward"]["mqtt"]
        assert fwd["errors"] >= 1 and fwd["dropped"] >= 1, fwd
        assert board.boots == [1]

    def test_room_in_flash_again_saves_the_totals(self, storage):
        board, broker, rec = storage["board"], storage["broker"], storage["rec"]
        until(board, BROKER_DOWN[1])
        broker.start()
        until(board, FULL[1] + MIN_INTERVAL_S + 20)
        assert "analytics: totals saved to flash again" in console(board)
        committed = [totals for boots, totals in rec.nvs if totals.get("pulse_wh")]
        seq, wh = committed[-1]["pulse_wh"][1][1:3]
        assert seq >= 2 and wh >= rec.latest("pulse_wh")[2] - _pulse_bound_wh(), committed[-1]
        wait_state(board.http_port, lambda s: s["mqtt"]["connected"] and s["forward"]["mqtt"]["pending"] == 0,
                   timeout=10)

    def test_a_later_outage_spills_to_flash_again(self, storage):
        board, broker, rec = storage["board"], storage["broker"], storage["rec"]
        until(board, SECOND_OUTAGE[0])
        dropped = rec.last()["forward"]["mqtt"]["dropped"]
        broker.stop()
        until(board, SECOND_OUTAGE[1])
        fwd = rec.last()["forward"]["mqtt"]
        broker.start()
        wait_state(board.http_port, lambda s: s["mqtt"]["connected"], timeout=15)
        assert fwd["flash"] >= 1 and fwd["dropped"] == dropped, fwd

    def test_power_cut_during_a_settings_save_keeps_the_old_settings(self, storage):
        board, rec = storage["board"], storage["rec"]
        until(board, CUT_SETTINGS + 10)
        wait_state(board.http_port, lambda s: s["mqtt"]["connected"], timeout=15)
        before = rec.latest("pulse_wh")
        with open(os.path.join(board.flash_dir, "config.json")) as f:
            saved = f.read()
        boots = len(board.boots)
        try:
            request(board, "POST", "/api/config", {"node": "loft"}, basic())
            answered = True
        except (http.client.HTTPException, OSError):  # the board lost power in the middle of it
            answered = False
        assert not answered
        assert "[sim] power cut while writing config.json.tmp" in console(board)
        state = wait_state(board.http_port, lambda s: len(board.boots) > boots and _ready(s), timeout=20)
        assert board.boots[-1] == 1 and state["reset_cause"] == "power on"
        # the old settings, whole: no safe mode, no errors, the torn temp file is ignored
        assert state["node"] == "hpday" and state["config_errors"] == [] and not state["safe_mode"]
        with open(os.path.join(board.flash_dir, "config.json")) as f:
            assert f.read() == saved
        # the save works once the power stays on
        status, doc = request(board, "POST", "/api/config", {"node": "loft"}, basic())
        assert status == 200 and doc["saved"], doc
        with open(os.path.join(board.flash_dir, "config.json")) as f:
            assert json.load(f)["node"] == "loft"
        assert "config.json.tmp" not in os.listdir(board.flash_dir)
        # energy: the registers are the meters'; the integrated pulses lose at most what came
        # after their last flash write, and nothing is counted twice
        state = wait_state(board.http_port, _ready, timeout=10)
        ch = state["channels"]
        for name in ("heatpump_elec_wh", "heatpump_heat_wh"):
            check_register(board, name, ch[name]["ts"], ch[name]["value"])
        after, uptime = ch["pulse_wh"]["value"], state["uptime_s"]
        assert before[2] - _pulse_bound_wh() <= after <= before[2] + ELEC_W * (uptime + 2) / 3600.0 + 1, (
            before, after, uptime)

    def test_power_cut_during_the_totals_commit_continues_from_the_last_write(self, storage):
        board, rec = storage["board"], storage["rec"]
        boots = len(board.boots)
        until(board, CUT_TOTALS)
        deadline = time.time() + (MIN_INTERVAL_S + 60) / SPEED + 10
        while len(board.boots) == boots and time.time() < deadline:
            time.sleep(0.1)
        assert len(board.boots) > boots, console(board)[-2000:]
        assert "[sim] power cut during the NVS commit of hpmon/totals" in console(board)
        before = rec.latest("pulse_wh", boots)
        # the record that was being written never reached the flash: the one before it stands
        landed = [t["pulse_wh"][1] for b, t in rec.nvs if b == boots and t.get("pulse_wh")][-1]
        state = wait_state(board.http_port, lambda s: _ready(s) and s["uptime_s"] >= 20, timeout=20)
        assert state["reset_cause"] == "power on" and state["node"] == "loft"  # the settings saved above
        after = state["channels"]["pulse_wh"]["value"]
        counted = ELEC_W * (state["uptime_s"] + 2) / 3600.0
        # continues from the last completed write: not less, and not more than this boot counted
        assert landed[2] <= after <= landed[2] + counted + 1, (landed, after, state["uptime_s"])
        # that write was at most one throttle period before the cut: bounded loss, nothing invented
        assert before[2] - _pulse_bound_wh() <= landed[2] <= before[2], (before, landed)
        later = [t["pulse_wh"][1] for b, t in rec.nvs if b > boots and t.get("pulse_wh")]
        if later:  # numbering goes on from the record that landed
            assert later[0][1] == landed[1] + 1, (landed, later[0])
        for name in ("heatpump_elec_wh", "heatpump_heat_wh"):
            check_register(board, name, state["channels"][name]["ts"], state["channels"][name]["value"])
        no_traceback(board)


# =====================================================================================
# Watchdog starvation by a stuck task


STUCK = (200, 260)  # world s: the meter is silent on a line that never goes quiet
# 10 x, not 30 x: the noise arrives at N x its line rate, and at 30 x parsing it takes the
# host's CPU away from the other tasks, which a board reading 218 bytes/s never sees.
STUCK_SPEED = 10


@pytest.fixture(scope="class")
def stuck(tmp_path_factory, broker):
    tmp = tmp_path_factory.mktemp("stuck")
    # A device that talks out of turn on the M-Bus line: the simulated Elster IR head's
    # continuous 2400-baud 8N1 stream (one 110-byte frame every 460 ms, no quiet gap) on UART 2,
    # which the 8E1 M-Bus UART reads as random bytes. While the meter answers, its frame ends
    # the master's listen; while it is silent, nothing does.
    path = _running(str(tmp / "stuck.json"), config={"watchdog_s": 30},
                    irda={"uart": 2, "period_ms": 460, "id": "mbus_line_noise"},
                    faults=[{"kind": "mbus_silent", "at_s": STUCK[0], "until_s": STUCK[1]}])
    board = start_board(path, broker_port=broker.port, speed=STUCK_SPEED, state_dir=_state_dir(tmp))
    rec = Recorder(board)
    try:
        yield {"board": board, "rec": rec}
    finally:
        _stop(rec, board)


class TestNoisyMbusLine:
    """A meter silent on a line that never goes quiet. The M-Bus master's listen used to last as
    long as bytes kept coming, so the M-Bus task got stuck and the supervisor let the watchdog
    reset the board every minute; it now ends after the longest possible answer. (The
    supervisor itself: tests/host/test_supervisor_wdt.py; the hardware watchdog on a
    whole-board hang, with the totals intact: tests/integration/test_analytics_reboot.py.)"""

    def test_a_line_that_never_goes_quiet_gives_a_status_without_a_reset(self, stuck):
        board, rec = stuck["board"], stuck["rec"]
        until(board, STUCK[1])
        # two failed polls (mbus.unknown_after) make the meter's channels unknown
        states = [x for x in rec.series("mbus_1_power", STUCK[0] + 40) if x[0] < STUCK[1]]
        assert 3 not in board.boots, board.boots
        assert states and states[-1][2] is None and states[-1][3] != "ok", states[-3:]

    def test_the_meter_is_read_again_after_the_fault(self, stuck):
        board, rec = stuck["board"], stuck["rec"]
        until(board, STUCK[1])
        state = wait_state(board.http_port, lambda s: _ready(s) and s["channels"]["mbus_1_power"]["status"] == "ok"
                           and board.world_time(s["channels"]["mbus_1_power"]["ts"]) > STUCK[1], timeout=25)
        ch = state["channels"]
        assert ch["mbus_1_power"]["value"] == HEAT_W
        # the register as read during the poll (on a noisy line a poll of the three telegrams
        # takes longer, and its readings carry the time it ended): never ahead of the meter
        wh = ch["heatpump_heat_wh"]
        truth = _register_truth(board, "heatpump_heat_wh", wh["ts"])
        assert truth - HEAT_W * 30 / 3600.0 <= wh["value"] <= truth + 2, (wh, truth)
        heat = [x[2] for x in rec.series("heatpump_heat_wh") if x[2] is not None]
        assert heat == sorted(heat)  # never backwards across the resets
        assert not state["safe_mode"] and "Traceback" not in console(board)


# =====================================================================================
# emoncms answering 500 or hanging, DNS failing


E500 = (8, 16)    # world s (1 x): emoncms answers HTTP 500
HANG = (18, 30)   # emoncms accepts the connection and never answers
DNS = (32, 44)    # no name resolves (fault dns_fail); the broker restarts at its start
BROKER_BOUNCE = (32, 35)
INTERVAL = 5


class FlakyEmoncms:
    """emoncms' input API on a free port: "ok", "500" (every request answered HTTP 500) or "hang"
    (the connection is accepted and the request read, and no answer ever comes: the request is
    never processed). Only accepted readings are recorded."""

    def __init__(self):
        self.mode = "ok"
        self.closing = False
        self.accepted = []  # (time, values)
        self.seen = []      # (host time, mode) of every request
        self.apikey = "0123456789abcdef0123456789abcdef"
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                mode = outer.mode
                with outer.lock:
                    outer.seen.append((time.time(), mode))
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if mode == "hang":
                    while outer.mode == "hang" and not outer.closing:
                        time.sleep(0.05)
                    self.close_connection = True
                    return
                if mode == "500":
                    reply, code = b"<h1>Internal Server Error</h1>", 500
                else:
                    reply, code = (b"ok" if self.path.endswith("/bulk") else b'{"success": true}'), 200
                    with outer.lock:
                        if self.path.endswith("/input/post"):
                            outer.accepted.append((int(form["time"]), json.loads(form["fulljson"])))
                        else:
                            for t, _node, values in json.loads(form["data"]):
                                outer.accepted.append((t, values))
                self.send_response(code)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    BaseHTTPRequestHandler.handle(self)
                except OSError:  # the board gave up on a hung request and closed its end
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.closing = True
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="class")
def network(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("network")
    server = FlakyEmoncms()
    broker = ControlledBroker().start()
    # both servers by name, so that a DNS failure matters (the emulator resolves "localhost"
    # through the host while the fault is off)
    path = scenario(str(tmp / "network.json"), config={
        "interval_s": INTERVAL, "ct": {"enabled": False}, "elec": {"source": "none"},
        "mqtt": {"host": "localhost", "port": broker.port, "keepalive_s": 10, "connect_timeout_s": 3,
                 "retry_max_s": 5},
        "emoncms": {"enabled": True, "url": "http://localhost:%d/emoncms" % server.port, "apikey": server.apikey,
                    "timeout_s": 3, "retry_max_s": 5}},
        faults=[{"kind": "dns_fail", "at_s": DNS[0], "until_s": DNS[1]}])
    board = rec = sub = None
    try:
        board = start_board(path, state_dir=_state_dir(tmp))  # no broker_port: the config names it
        rec = Recorder(board)
        sub = Subscriber(broker.port, "hpmon/hpmon/state", "emon/hpmon")
        yield {"board": board, "broker": broker, "server": server, "rec": rec, "sub": sub}
    finally:
        _stop(rec, board, sub)
        broker.close()
        server.close()


def _live_times(sub):
    """Times of the readings in every MQTT state message and backfilled record."""
    out = []
    for _topic, payload, _retain, _t in sub.messages:
        doc = json.loads(payload)
        if doc.get("time") is not None:
            out.append(doc["time"])
    return out


class TestNetwork:
    def test_emoncms_500_is_reported_and_retried(self, network):
        board, server, rec = network["board"], network["server"], network["rec"]
        wait_state(board.http_port, lambda s: s["emoncms"]["posts"] >= 1 and s["mqtt"]["connected"], timeout=E500[0])
        until(board, E500[0])
        server.mode = "500"
        until(board, E500[1] - 1)
        st = rec.last()
        assert st["emoncms"]["ok"] is False and "server error" in st["emoncms"]["error"], st["emoncms"]
        assert "HTTP 500" in st["emoncms"]["error"] and st["forward"]["emoncms"]["pending"] >= 1
        assert st["mqtt"]["connected"]  # MQTT does not depend on it
        server.mode = "ok"
        st = wait_state(board.http_port, lambda s: s["emoncms"]["ok"] and s["forward"]["emoncms"]["pending"] == 0,
                        timeout=HANG[0] - world_now(board))
        assert "emoncms: server error (HTTP 500" in console(board)

    def test_a_hanging_emoncms_times_out_and_never_holds_the_board(self, network):
        board, server, rec, sub = network["board"], network["server"], network["rec"], network["sub"]
        until(board, HANG[0])
        server.mode = "hang"
        n_seen = len(server.seen)
        until(board, HANG[1] - 1)
        st = rec.last()
        hung = len(server.seen) - n_seen
        server.mode = "ok"
        assert st["emoncms"]["ok"] is False and st["forward"]["emoncms"]["pending"] >= 2, st
        # OSError ETIMEDOUT (116 on the ESP32, 110 here), in words (firmware/errtext.py)
        assert st["emoncms"]["error"].startswith("timed out (errno ") or st["emoncms"]["error"] == "no response", st
        assert "emoncms: timed out (errno " in console(board)
        # each try waits emoncms.timeout_s (3 s), then backs off: a few tries, no hammering
        assert 2 <= hung <= (HANG[1] - HANG[0]) // 3 + 1, hung
        # meanwhile everything else runs: live MQTT every interval, the scheduler never held
        t0 = board.start_s + HANG[0] + INTERVAL
        live = sorted(t for t in _live_times(sub) if t0 <= t <= board.start_s + HANG[1] - 1)
        assert len(live) >= (HANG[1] - HANG[0] - INTERVAL - 1) // INTERVAL - 1, live
        assert st["longest_stall_ms"] < 500, st["longest_stall_ms"]  # one 3-s wait would show here
        flow = [x for x in rec.series("heatpump_flowT", HANG[0]) if x[0] < HANG[1]]
        assert len({x[4] for x in flow}) >= 2 and all(x[3] == "ok" for x in flow)

    def test_dns_failure_is_reported_and_the_readings_kept(self, network):
        board, broker, rec = network["board"], network["broker"], network["rec"]
        until(board, BROKER_BOUNCE[0])
        broker.stop()
        until(board, BROKER_BOUNCE[1])
        broker.start()
        until(board, DNS[1] - 1)
        st = rec.last()
        assert st["mqtt"]["connected"] is False and st["mqtt"]["error"], st["mqtt"]
        assert st["emoncms"]["ok"] is False and st["emoncms"]["error"], st["emoncms"]
        assert st["forward"]["mqtt"]["pending"] >= 1 and st["forward"]["emoncms"]["pending"] >= 1
        # -202 is lwIP's EAI_FAIL, as the ESP32 reports a failed lookup (tools/emulator/sim/socket.py)
        dns = "DNS lookup failed (errno -202)"
        assert st["mqtt"]["error"] == dns and st["emoncms"]["error"] == dns, (st["mqtt"], st["emoncms"])
        text = console(board)
        assert "mqtt: " + dns + "; retry in" in text and "emoncms: " + dns + "; " in text, text[-2000:]
        flow = [x for x in rec.series("heatpump_flowT", DNS[0]) if x[0] < DNS[1]]
        assert len({x[4] for x in flow}) >= 2 and all(x[3] == "ok" for x in flow)  # measuring goes on
        wait_state(board.http_port, lambda s: s["mqtt"]["connected"] and s["emoncms"]["ok"]
                   and s["forward"]["mqtt"]["pending"] == 0 and s["forward"]["emoncms"]["pending"] == 0, timeout=25)

    def test_every_reading_arrives_once_with_its_values(self, network):
        board, server, sub = network["board"], network["server"], network["sub"]
        assert wait_until(lambda: any(t >= board.start_s + DNS[1] + INTERVAL for t, _v in list(server.accepted)),
                          timeout=3 * INTERVAL)
        st = wait_state(board.http_port, lambda s: s["forward"]["emoncms"]["pending"] == 0
                        and s["forward"]["mqtt"]["pending"] == 0, timeout=15)
        with server.lock:
            recs = list(server.accepted)
        times = [t for t, _v in recs]
        assert len(times) == len(set(times)), sorted(t for t in times if times.count(t) > 1)
        assert gaps(times, INTERVAL) == [], sorted(times)
        assert min(times) <= board.start_s + 2 * INTERVAL and max(times) >= board.start_s + DNS[1]
        for t, values in recs:
            expected = _truth_at(board, "temperatures." + FLOW_ROM, t)
            assert abs(values["heatpump_flowT"] - expected) <= 0.0625 + 0.075 * (INTERVAL + 1), (t, values)
        mqtt_times = _live_times(sub)
        assert gaps([t for t in mqtt_times if t >= board.start_s + E500[0]], INTERVAL) == []
        assert st["forward"]["emoncms"]["dropped"] == 0 and st["forward"]["mqtt"]["dropped"] == 0
        assert st["emoncms"]["rejected"] == 0
        no_traceback(board)


def _truth_at(board, path, wall_s):
    track = _world().World(board.scenario)._track(path)
    return track.value(board.world_time(wall_s))


# =====================================================================================
# Wi-Fi gone for hours


HOURS_SPEED = 300
WIFI_DOWN = (1800, 1800 + 2 * 3600)  # world s: two hours without the router
HOURS_INTERVAL = 60


@pytest.fixture(scope="class")
def hours(tmp_path_factory, broker):
    # MQTT only: at 300 x an emoncms post (CPU work on the board, which does not speed up)
    # outlasts any emoncms.timeout_s of the board's clock, so the emoncms backfill is covered at
    # 1 x (TestNetwork, test_wifi_emoncms.py); both use the same store-and-forward buffer.
    tmp = tmp_path_factory.mktemp("hours")
    path = _running(str(tmp / "hours.json"),
                    config={"interval_s": HOURS_INTERVAL, "watchdog_s": 300, "pulse": {"enabled": False}},
                    faults=[{"kind": "wifi_down", "at_s": WIFI_DOWN[0], "until_s": WIFI_DOWN[1]}])
    board = rec = sub = None
    try:
        board = start_board(path, broker_port=broker.port, speed=HOURS_SPEED, state_dir=_state_dir(tmp))
        rec = Recorder(board, every=0.3)
        sub = Subscriber(broker.port, "emon/hpday", "hpmon/hpday/state")
        yield {"board": board, "rec": rec, "sub": sub}
    finally:
        _stop(rec, board, sub)


def _mqtt_records(sub):
    """(time, values) of every reading delivered: live state JSON and backfilled emon/<node>."""
    return [(doc["time"], doc) for doc in (json.loads(p) for _t, p, _r, _ts in list(sub.messages))
            if doc.get("time") is not None]


class TestWifiHours:
    def test_hours_offline_buffer_to_flash_and_keep_measuring(self, hours):
        board, rec = hours["board"], hours["rec"]
        until(board, WIFI_DOWN[1] - 600)
        st = rec.last()
        assert st["wifi"]["sta_connected"] is False and st["wifi"]["ap_active"], st["wifi"]
        assert st["wifi"]["ap_reason"] == "fallback"
        assert st["mqtt"]["connected"] is False
        expected = (WIFI_DOWN[1] - 600 - WIFI_DOWN[0]) / HOURS_INTERVAL
        fwd = st["forward"]["mqtt"]
        assert fwd["pending"] >= 0.8 * expected and fwd["flash"] >= 1 and fwd["dropped"] == 0, fwd
        for name in ("heatpump_elec_wh", "heatpump_heat_wh"):
            ch = st["channels"][name]
            assert board.world_time(ch["ts"]) > WIFI_DOWN[0], (name, ch)  # read all along
            check_register(board, name, ch["ts"], ch["value"])

    def test_every_reading_of_the_outage_arrives_with_its_values(self, hours):
        board, sub = hours["board"], hours["sub"]
        st = wait_state(board.http_port, lambda s: s["wifi"]["sta_connected"] and s["mqtt"]["connected"]
                        and s["forward"]["mqtt"]["pending"] == 0, timeout=40)
        assert st["wifi"]["reconnects"] >= 1 and st["reset_cause"] == "power on"
        t0, t1 = board.start_s + WIFI_DOWN[0], board.start_s + WIFI_DOWN[1]
        recs = [(t, v) for t, v in _mqtt_records(sub) if t0 <= t < t1]
        times = sorted(set(t for t, _v in recs))
        # delivery is at least once (a reading sent as the link died is sent again from the
        # buffer): a repeat must be the same reading, which overwrites the same point
        by_time: dict = {}
        for t, values in recs:
            by_time.setdefault(t, []).append(values)
        repeats = {t: v for t, v in by_time.items() if len(v) > 1}
        assert len(repeats) <= 3, repeats
        for docs in repeats.values():
            for doc in docs[1:]:
                assert all(doc[k] == docs[0][k] for k in set(doc) & set(docs[0])), docs
        # at 300 x a 0.1-s stall of the host is 30 s of the board's: allow a late reading, not a lost one
        assert len(times) >= 0.95 * (WIFI_DOWN[1] - WIFI_DOWN[0]) / HOURS_INTERVAL, len(times)
        assert not gaps(times, 2 * HOURS_INTERVAL), gaps(times, 2 * HOURS_INTERVAL)
        last = None
        for t, values in sorted(recs):
            wh = values["heatpump_elec_wh"]
            # the register as read up to a few intervals before the record (never after it)
            lo = _register_truth(board, "heatpump_elec_wh", t - 4 * HOURS_INTERVAL)
            assert lo - 1 <= wh <= _register_truth(board, "heatpump_elec_wh", t) + 1, (t, wh)
            assert last is None or wh >= last
            last = wh
        assert st["forward"]["mqtt"]["dropped"] == 0
        no_traceback(board)


# =====================================================================================
# M-Bus meters answering slowly, two meters on one primary address


def _kamstrup(address, secondary, energy_wh, power_w, delay_ms):
    return {"model": "kamstrup_multical_403", "address": address, "secondary_id": secondary,
            "energy_wh_initial": energy_wh, "power_w": power_w, "flow_m3h": power_w / 5000.0, "flowT": 40.0,
            "returnT": 35.0, "reply_delay_ms": delay_ms}


# EN 13757-2: a slave answers 11 to 330 bit times + 50 ms after the request (187 ms at 2400 baud);
# the master waits 330 bit times + 150 ms (287 ms) by default
METERS = [_kamstrup(1, 11111111, 1000000, 1000.0, 35),
          _kamstrup(2, 22222222, 2000000, 2000.0, 250),   # slow, and within what the master allows
          _kamstrup(3, 33333333, 3000000, 3000.0, 700),   # far slower than the standard allows
          _kamstrup(5, 55555555, 5000000, 5000.0, 35),    # two meters set to one primary address
          _kamstrup(5, 55555556, 6000000, 6000.0, 35)]


@pytest.fixture(scope="class")
def meters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meters")
    with open(DEFAULT) as f:
        base = json.load(f)
    cfg = dict(base["config"], interval_s=INTERVAL, ct={"enabled": False}, elec={"source": "none"},
               mbus={"meters": [{"address": a} for a in (1, 2, 3, 5)]}, heat={"meter": "mbus_1"})
    path = write_scenario(str(tmp / "meters.json"), DEFAULT, config=cfg, heat_meter=METERS, timeline=[], faults=[])
    board = start_board(path, state_dir=_state_dir(tmp))
    rec = Recorder(board, every=0.5)
    try:
        wait_state(board.http_port, lambda s: all(s["channels"].get("mbus_%d_power" % a, {}).get("ts")
                                                 for a in (1, 2, 3)) and s["uptime_s"] >= 25, timeout=45)
        yield {"board": board, "rec": rec}
    finally:
        _stop(rec, board)


def _meter_truth(board, index, ts):
    spec = METERS[index]
    track = _world().World(board.scenario)._track("heat_meter.%d.power_w" % index)
    return spec["power_w"], spec["energy_wh_initial"] + track.integral(board.world_time(ts)) / 3600.0


class TestMeters:
    def test_slow_meters_are_read_with_their_own_values(self, meters):
        board, rec = meters["board"], meters["rec"]
        for index, address in ((0, 1), (1, 2), (2, 3)):
            readings = [x for x in rec.series("mbus_%d_power" % address) if x[2] is not None]
            assert readings and all(x[3] == "ok" for x in readings), (address, readings[-3:])
            for _ws, _boots, power, _st, _ts in readings:
                assert power == METERS[index]["power_w"], (address, power)  # never another meter's
            energy = rec.latest("mbus_%d_energy_wh" % address)
            _p, wh = _meter_truth(board, index, energy[4])
            assert wh - 1000 - 5 <= energy[2] <= wh + 5, (address, energy, wh)  # whole kWh register
        info = get_json(board.http_port, "/api/meters")["mbus"]
        # the 700-ms meter's late answer is caught by the retry; the retries are counted
        assert info["failures"] >= 1, info
        assert all(m["status"] == "ok" for m in info["meters"] if m["address"] in (1, 2, 3)), info["meters"]
        no_traceback(board)

    def test_two_meters_on_one_address_never_mix_their_values(self, meters):
        board, rec = meters["board"], meters["rec"]
        seen = set()
        for _ws, _boots, state in list(rec.states):
            ch = state["channels"]
            power, energy = ch.get("mbus_5_power", {}), ch.get("mbus_5_energy_wh", {})
            if power.get("value") is None or energy.get("value") is None or power["ts"] != energy["ts"]:
                continue
            index = {5000.0: 3, 6000.0: 4}.get(float(power["value"]))
            assert index is not None, power
            _p, wh = _meter_truth(board, index, energy["ts"])
            assert wh - 1000 - 5 <= energy["value"] <= wh + 5, (power, energy, wh)  # the same meter's energy
            seen.add(index)
        # the emulator's UART lets the first meter's frame through whole (see the xfail below):
        # what is read must be that meter's; on a real bus nothing is read (checksum)
        print("mbus_5 read as meter(s) %s" % sorted(seen))

    @pytest.mark.xfail(strict=True, reason="emulator limitation: machine.UART queues replies that overlap on the "
                       "wire one after the other instead of superimposing them, so the first meter's frame "
                       "arrives intact and the collision cannot be seen; on a real bus both currents add up and "
                       "the frame fails its checksum (snippet for tools/emulator/sim/machine.py in "
                       "docs/reliability.md)")
    def test_two_meters_on_one_address_are_reported(self, meters):
        board = meters["board"]
        meter = [m for m in get_json(board.http_port, "/api/meters")["mbus"]["meters"] if m["address"] == 5][0]
        assert meter["status"] != "ok", meter
        ch = get_json(board.http_port)["channels"].get("mbus_5_power", {"value": None})
        assert ch["value"] is None, ch


# =====================================================================================
# config.json of random bytes


class TestGarbageConfig:
    def test_random_bytes_boot_defaults_with_the_access_point_and_can_be_repaired(self, tmp_path):
        state_dir = _state_dir(tmp_path)
        os.makedirs(os.path.join(state_dir, "flash"))
        garbage = random.Random(7).randbytes(3000)
        with open(os.path.join(state_dir, "flash", "config.json"), "wb") as f:
            f.write(garbage)
        board = start_board(DEFAULT, state_dir=state_dir)
        try:
            state = wait_state(board.http_port, lambda s: s["channels"].get("t_" + FLOW_ROM, {}).get("value")
                               is not None, timeout=30)
            assert state["config_errors"] and state["node"] == "hpmon" and not state["safe_mode"], state
            assert any("not valid JSON" in e or "not readable text" in e for e in state["config_errors"])
            assert state["wifi"]["ap_active"] is True  # the way in
            with open(os.path.join(state_dir, "flash", "config.json"), "rb") as f:
                assert f.read() == garbage  # left for the user, never overwritten on its own
            # the settings page repairs it: a valid configuration replaces the file atomically
            set_admin_password(board)
            status, doc = request(board, "POST", "/api/config/upload", {"node": "loft"}, basic())
            assert status == 200 and doc["saved"], doc
            with open(os.path.join(state_dir, "flash", "config.json")) as f:
                assert json.load(f)["node"] == "loft"
            boots = len(board.boots)
            assert request(board, "POST", "/api/restart", {}, basic())[0] == 200
            state = wait_state(board.http_port, lambda s: len(board.boots) > boots and s["uptime_s"] >= 1, timeout=30)
            assert state["node"] == "loft" and state["config_errors"] == [], state
            assert board.boots == [1, 2]  # one restart asked for, no loop
            no_traceback(board)
        finally:
            board.stop()


# =====================================================================================
# A DS18B20 of the VFS heat path lost


VFS = os.path.join(paths.ROOT, "scenarios", "heat-vfs.json")
RETURN_ROM = "28ff1c5a92160496"
LOST = (12, 24)  # world s: the return sensor unplugged


class TestVfsSensorLost:
    def test_heat_is_unknown_and_counts_nothing_while_a_temperature_is_missing(self, tmp_path):
        from firmware import heat
        path = write_scenario(str(tmp_path / "vfs.json"), VFS, faults=[
            {"kind": "ds18b20_unplugged", "target": RETURN_ROM, "at_s": LOST[0], "until_s": LOST[1]}])
        board = start_board(path, state_dir=_state_dir(tmp_path))
        rec = Recorder(board, every=0.25)
        try:
            until(board, LOST[1] + 14)
            power = heat.heat_power_w(14.3, "l/min", 40.0, 35.0, "return")  # the truth, steady until 100 s
            inside = [x for x in rec.series("vfs_heat", LOST[0] + 6) if x[0] < LOST[1]]
            assert inside and all(x[2] is None and x[3] != "ok" for x in inside), inside[-3:]
            assert all(x[2] is None for x in rec.series("heatpump_heat", LOST[0] + 6) if x[0] < LOST[1])
            # the Wh counter: what it adds across the outage is at most the truth of the time it
            # measured, never the outage's own heat guessed (no reading: no energy)
            wh = [x for x in rec.series("heatpump_heat_wh") if x[2] is not None and x[4]]
            a = [x for x in wh if x[0] < LOST[0]][-1]
            b = [x for x in wh if x[0] > LOST[1] + 10][-1]
            measured_s = (board.world_time(b[4]) - board.world_time(a[4])) - (LOST[1] - LOST[0])
            gained = b[2] - a[2]
            assert gained <= power * (measured_s + 2 * 2 + 2) / 3600.0 + 1, (a, b, measured_s)
            assert gained >= power * (measured_s - 2 * 2 - 4) / 3600.0 - 1, (a, b, measured_s)
            after = rec.latest("vfs_heat")
            assert after[3] == "ok" and abs(after[2] - power) <= 0.01 * power, after
            no_traceback(board)
        finally:
            _stop(rec, board)
