"""Every route of docs/http-api.md against the real firmware on the emulated board, with a
real HTTP client: reading, the event stream, the history ring, admin login with CSRF, settings
that validate per field and survive a restart, and malformed requests answered with 4xx while
the board keeps serving."""
import base64
import http.client
import json
import os
import socket
import tempfile
import time

import pytest

from tests.helpers import ap_password, console, get_json, start_board, wait_state, write_scenario
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
PASSWORD = "correct horse"

with open(DEFAULT) as _f:
    _SCENARIO = json.load(_f)


@pytest.fixture(scope="module")
def board():
    cfg = dict(_SCENARIO["config"])
    cfg["web"] = {"history_s": 10, "sse_clients": 2}
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(prefix="hpmon-web-"), "web.json"), DEFAULT,
                              config=cfg)
    b = start_board(scenario, heap="2M")
    wait_state(b.http_port, lambda s: s["time"] and all(s["channels"].get(n, {}).get("value") is not None for n in (
        "heatpump_flowT", "heatpump_elec", "heatpump_heat", "mbus_1_energy_wh")), timeout=60)
    yield b
    b.stop()


def request(board, method, path, body=None, headers=None, timeout=10):
    """(status, headers, parsed JSON or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", board.http_port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
    finally:
        conn.close()


def basic():
    return {"Authorization": "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode()}


class Session:
    """A browser-like login: the session cookie and its CSRF token."""

    def __init__(self, board, set_cookie, csrf):
        self.board = board
        self.cookie = set_cookie.split(";")[0]
        self.csrf = csrf

    def call(self, method, path, body=None, csrf=True):
        headers = {"Cookie": self.cookie}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return request(self.board, method, path, body, headers)


@pytest.fixture(scope="module")
def admin(board):
    status, _h, doc = request(board, "GET", "/api/auth")
    assert status == 200 and doc == {"password_set": False, "logged_in": False, "csrf": None}
    # changing anything needs the password, which does not exist yet
    assert request(board, "POST", "/api/config", {"node": "x"})[0] == 401
    proof = ap_password(board)
    status, _h, doc = request(board, "POST", "/api/auth/setup", {"password": "short", "ap_password": proof})
    assert status == 400 and "password" in doc["error"]
    # the first password needs proof of ownership: the access point's password (serial console)
    status, _h, doc = request(board, "POST", "/api/auth/setup", {"password": PASSWORD})
    assert status == 403 and "access point" in doc["error"], doc
    status, _h, doc = request(board, "POST", "/api/auth/setup", {"password": PASSWORD, "ap_password": "x" * 12})
    assert status == 403, doc
    status, headers, doc = request(board, "POST", "/api/auth/setup",
                                   {"password": PASSWORD, "ap_password": ap_password(board)})
    assert status == 200, doc
    assert "httponly" in headers["set-cookie"].lower() and "samesite=strict" in headers["set-cookie"].lower()
    session = Session(board, headers["set-cookie"], doc["csrf"])
    # a second setup is refused: the password exists now
    assert request(board, "POST", "/api/auth/setup", {"password": "another password"})[0] == 409
    return session


# ------------------------------------------------------------ reading
def test_compact_state_is_small_and_agrees_with_the_full_document(board):
    conn = http.client.HTTPConnection("127.0.0.1", board.http_port, timeout=10)
    conn.request("GET", "/api/state")
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    full = get_json(board.http_port)
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    assert len(raw) <= 2048, len(raw)  # on the wire
    compact = json.loads(raw)
    assert set(compact["channels"]) <= set(full["channels"])
    assert len(compact["channels"]) >= 40
    for name, value in compact["channels"].items():
        ch = full["channels"][name]
        if name.startswith("t_") and value is not None:
            assert abs(value - ch["value"]) <= 0.5  # 10 s interval; rounded to 2 decimals
            assert round(value, 2) == value
    # an unknown value is null, never 0, and its status says why (unless it simply has no data yet)
    for name, ch in full["channels"].items():
        if ch["value"] is None and ch["status"] not in ("ok", "no data") and name in compact["status"]:
            assert compact["channels"].get(name) is None
    assert "no data" not in compact["status"].values()


def test_state_answers_quickly(board):
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        assert request(board, "GET", "/api/state")[0] == 200
        times.append(time.perf_counter() - t0)
    times.sort()
    assert times[5] < 0.05, times  # the median, on the host (the bench prints the figures)


def test_event_stream_sends_all_channels_then_changes(board):
    before = get_json(board.http_port)
    conn = http.client.HTTPConnection("127.0.0.1", board.http_port, timeout=30)
    try:
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type").startswith("text/event-stream")
        events = []
        while len(events) < 3:
            block = b""
            while not block.endswith(b"\n\n"):
                block += resp.fp.readline()
            lines = block.decode().strip().split("\n")
            assert lines[0] == "event: state"
            events.append(json.loads(lines[1][len("data: "):]))
    finally:
        conn.close()
    first, later = events[0], events[1:]
    assert set(first["channels"]) >= set(before["channels"])
    assert set(first["units"]) == set(first["channels"])  # every channel's unit, once
    assert first["units"]["heatpump_flowT"] == "°C" and first["units"]["heatpump_elec"] == "W"
    assert abs(first["channels"]["heatpump_flowT"] - before["channels"]["heatpump_flowT"]["value"]) < 2
    for ev in later:
        assert len(ev["channels"]) < len(first["channels"])  # only what changed
        assert not (set(ev.get("units", {})) & set(first["units"]))  # units only for new channels
    assert any("heatpump_flowT" in ev["channels"] for ev in later)  # the flow ramps: it changes


def _open_stream(board, timeout=25):
    """An event stream, retried while the board still counts streams a client closed: it
    notices a closed stream at its next event (one interval)."""
    deadline = time.time() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", board.http_port, timeout=10)
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        if resp.status == 200:
            resp.fp.readline()
            return resp  # the response owns the socket: keep it, or the stream closes
        conn.close()
        assert resp.status == 503 and time.time() < deadline
        time.sleep(1)


def test_a_third_event_stream_is_refused_with_503(board):
    streams = []
    try:
        streams = [_open_stream(board), _open_stream(board)]
        status, _h, doc = request(board, "GET", "/api/events")
        assert status == 503 and "poll" in doc["error"]
    finally:
        for stream in streams:
            stream.close()
    # closed streams are released: a new one is accepted again
    _open_stream(board).close()


def _times(doc):
    out = []
    for d in doc["dt"]:
        out.append(doc["t0"] if not out else out[-1] + d)
    return out


def test_history_ring_fills_on_a_shared_time_axis(board):
    deadline = time.time() + 40
    while True:
        status, _h, doc = request(board, "GET", "/api/history")
        if len(doc["dt"]) >= 3 or time.time() > deadline:
            break
        time.sleep(2)
    assert status == 200 and doc["step_s"] == 10
    t = _times(doc)
    assert len(t) >= 3 and doc["dt"][0] == 0
    # the first sample at the first NTP sync, then one per 10 s slot of wall time
    assert all(x % 10 == 0 for x in t[1:]) and all(d == 10 for d in doc["dt"][2:]), doc["dt"]
    for name in ("heatpump_elec", "heatpump_heat", "heatpump_flowT", "heatpump_returnT", "heatpump_cop"):
        assert len(doc["series"][name]) == len(t)
    flow = [v for v in doc["series"]["heatpump_flowT"] if v is not None]
    assert flow and all(15 < v < 60 and round(v, 1) == v for v in flow)  # °C to 0.1
    assert all(v is None or isinstance(v, int) for v in doc["series"]["heatpump_elec"])  # whole W
    status, _h, one = request(board, "GET", "/api/history?channels=heatpump_flowT&minutes=1")
    assert list(one["series"]) == ["heatpump_flowT"] and len(one["dt"]) <= 7
    assert request(board, "GET", "/api/history?minutes=soon")[0] == 400


def test_system_meters_and_sensors(board):
    _s, _h, system = request(board, "GET", "/api/system")
    assert system["version"] and system["reset_cause"] == "power on"
    assert system["free_heap"] > 0 and isinstance(system["log"], list) and system["log"]
    assert system["wifi"]["sta_connected"] is True and system["wifi"]["rssi"] == -58
    _s, _h, meters = request(board, "GET", "/api/meters")
    assert meters["mbus"]["meters"][0]["address"] == 1
    assert meters["records"]["mbus_1"]["energy_wh"]["unit"] == "Wh"
    _s, _h, sensors = request(board, "GET", "/api/sensors")
    roms = {s["rom"]: s for s in sensors["onewire"]}
    assert set(roms) == set(_SCENARIO["temperatures"])
    for rom, role in _SCENARIO["config"]["onewire"]["roles"].items():
        assert roms[rom]["role"] == role and roms[rom]["bus"] is not None
        assert roms[rom]["status"] == "ok" and roms[rom]["value"] is not None
    assert "heatpump_returnT" in sensors["roles"]
    assert sensors["ct"]["inputs"][0]["ct"] == 1 and sensors["ct"]["vrms"]["value"] > 200


# ------------------------------------------------------------ admin
def test_settings_need_a_session_and_its_csrf_token(board, admin):
    assert request(board, "GET", "/api/config")[0] == 401
    assert admin.call("POST", "/api/config", {"mqtt": {"keepalive_s": 30}}, csrf=False)[0] == 403
    bad = dict(admin.__dict__)
    forged = Session(board, bad["cookie"], "0" * 32)
    assert forged.call("POST", "/api/config", {"mqtt": {"keepalive_s": 30}})[0] == 403
    status, _h, doc = request(board, "GET", "/api/auth", headers={"Cookie": admin.cookie})
    assert doc["logged_in"] is True and doc["csrf"] == admin.csrf


def test_config_never_sends_secrets_and_keeps_them(board, admin):
    status, _h, cfg = admin.call("GET", "/api/config", csrf=False)
    assert status == 200
    assert cfg["wifi"]["key"] is True            # set by the scenario, shown only as "set"
    assert cfg["mqtt"]["password"] is False
    assert "heatpump123" not in json.dumps(cfg)
    status, headers, raw = admin.call("GET", "/api/config/download", csrf=False)
    assert "attachment" in headers["content-disposition"] and "heatpump123" not in json.dumps(raw)
    # sending the page's form back (secrets as true/false) keeps the secrets
    status, _h, doc = admin.call("POST", "/api/config", {"wifi": cfg["wifi"], "mqtt": cfg["mqtt"]})
    assert status == 200 and doc["saved"] is True
    with open(os.path.join(board.flash_dir, "config.json")) as f:
        assert json.load(f)["wifi"]["key"] == "heatpump123"


def test_a_wrong_field_gets_its_own_error_and_nothing_is_saved(board, admin):
    with open(os.path.join(board.flash_dir, "config.json")) as f:
        before = f.read()
    status, _h, doc = admin.call("POST", "/api/config", {"mqtt": {"port": 99999, "keepalive_s": 20},
                                                         "node": "bad name!", "nonsense": 1})
    assert status == 400
    assert set(doc["errors"]) >= {"mqtt.port", "node", "nonsense"}
    assert "65535" in doc["errors"]["mqtt.port"]
    with open(os.path.join(board.flash_dir, "config.json")) as f:
        assert f.read() == before
    assert admin.call("POST", "/api/config", b"{not json")[0] == 400
    assert admin.call("POST", "/api/config", b"[1, 2]")[0] == 400


def test_login_rate_limit_and_basic_auth(board, admin):
    assert request(board, "POST", "/api/auth/login", {"password": "wrong one"})[0] == 401
    codes = [request(board, "POST", "/api/auth/login", {"password": "wrong %d" % i})[0] for i in range(6)]
    assert codes[-1] == 429, codes
    status, headers, _d = request(board, "POST", "/api/auth/login", {"password": PASSWORD})
    assert status == 429 and int(headers["retry-after"]) > 0  # even the right one waits
    # HTTP Basic (for scripts) is no way around the limit
    assert request(board, "GET", "/api/config", headers=basic())[0] == 429
    # the session that logged in before keeps working
    assert admin.call("GET", "/api/config", csrf=False)[0] == 200


def test_totals_can_be_set_with_an_audit_line(board, admin):
    status, _h, doc = admin.call("POST", "/api/totals", {"name": "heatpump_elec_kwh", "wh": 1234567})
    assert status == 200, doc
    assert doc["totals"]["heatpump_elec_wh"]["wh"] >= 1234567
    state = wait_state(board.http_port, lambda s: (s["channels"]["heatpump_elec_kwh"]["value"] or 0) >= 1234.567)
    assert state["channels"]["heatpump_elec_kwh"]["value"] < 1234.567 + 5
    assert any("totals" in line and "1234567" in line for line in request(board, "GET", "/api/system")[2]["log"])
    assert admin.call("POST", "/api/totals", {"name": "heatpump_elec_kwh", "wh": -5})[0] == 400
    assert admin.call("POST", "/api/totals", {"name": "nonsense", "wh": 5})[0] == 400
    # a new heat meter whose register starts near 0: the heat total carries on from where it was
    before = get_json(board.http_port)["channels"]["heatpump_heat_kwh"]["value"]
    status, _h, doc = admin.call("POST", "/api/totals", {"name": "heatpump_heat_kwh", "replace_meter": True,
                                                         "register_wh": 5})
    assert status == 200 and doc["audit"]["action"] == "replace", doc
    after = get_json(board.http_port)["channels"]["heatpump_heat_kwh"]["value"]
    assert before - 0.01 <= after < before + 5, (before, after)


def test_flow_return_offset_is_applied_only_by_hand(board, admin):
    # the self-check learns from 15 min of pump-only running (analytics_dtcheck settle_s):
    # a board up for a minute has nothing to apply yet, and says so
    assert get_json(board.http_port)["channels"]["heatpump_dt_offset"]["value"] is None
    status, _h, doc = admin.call("POST", "/api/dtcheck/apply")
    assert status == 409 and "no offset" in doc["error"]
    assert request(board, "POST", "/api/dtcheck/apply")[0] == 401


def test_pages_are_gzipped_assets(board):
    for path, kind in (("/", "text/html"), ("/status", "text/html"), ("/app.js", "application/javascript"),
                       ("/app.css", "text/css")):
        status, headers, body = request(board, "GET", path, headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers["content-type"].startswith(kind), path
        assert headers["content-encoding"] == "gzip" and body[:2] == b"\x1f\x8b", path
    assert request(board, "GET", "/nothing.html")[0] == 404
    assert request(board, "POST", "/app.js")[0] == 405


def test_malformed_requests_get_4xx_and_the_board_keeps_serving(board):
    assert request(board, "DELETE", "/api/state")[0] == 405
    assert request(board, "GET", "/nope")[0] == 404
    big = {"X-Big": "a" * 4000}
    try:
        status = request(board, "GET", "/api/state", headers=big)[0]
        assert 400 <= status < 500
    except (OSError, http.client.HTTPException):  # a reset, or gone already (ENOTCONN)
        pass  # closing the connection is an acceptable answer to a 4 KB header line
    assert request(board, "POST", "/api/auth/login", b"x" * (9 * 1024))[0] == 413
    assert request(board, "POST", "/api/auth/login", b"x" * (100 * 1024))[0] == 413
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/1.1\r\nHost"):
        with socket.create_connection(("127.0.0.1", board.http_port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(1024)
            except OSError:
                pass
    assert request(board, "GET", "/api/state")[0] == 200
    assert "Traceback" not in json.dumps(request(board, "GET", "/api/system")[2]["log"])


def test_a_saved_setting_applies_after_restart(board, admin):
    status, _h, doc = admin.call("POST", "/api/config", {"node": "garage_hp"})
    assert status == 200 and doc["restart_needed"] is True
    assert get_json(board.http_port)["node"] == "hpmon"  # not before the restart
    up = get_json(board.http_port)["uptime_s"]
    assert admin.call("POST", "/api/restart", body=b"")[2] == {"restarting": True}
    state = wait_state(board.http_port, lambda s: s["uptime_s"] < up and s["node"] == "garage_hp", timeout=40)
    assert state["reset_cause"] in ("soft reset", "hard reset"), console(board)[-2000:]
    assert "restart requested from the web page" in console(board)
    # sessions live in RAM: the old one has ended; the password has not
    assert admin.call("GET", "/api/config", csrf=False)[0] == 401
    assert request(board, "GET", "/api/config", headers=basic())[2]["node"] == "garage_hp"
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:nope nope").decode()}
    assert request(board, "GET", "/api/config", headers=wrong)[0] == 401
