"""The dashboard (web/*, built by tools/www.py) in headless Chromium against the emulated board:
live values over Server-Sent Events, SVG charts from the history ring, unknown values shown as
unknown, the first-visit password setup and login, per-field errors from the board's validation,
and a settings change that survives a restart. Screenshots go to tests/artifacts/."""
import base64
import json
import os
import re
import tempfile
import time
import urllib.request

import pytest

from tests.browser import DESKTOP, PHONE, Browser
from tests.helpers import ap_password, console, get_json, session_build, start_board, wait_state, write_scenario
from tools import paths
from tools.www import build_www

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
ARTIFACTS = os.path.join(paths.ROOT, "tests", "artifacts")
DOCS_SHOT = os.path.join(paths.ROOT, "docs", "screenshot-dashboard.png")
PASSWORD = "heat-pump-2024"
DASH = "–"

with open(DEFAULT) as _f:
    _SCENARIO = json.load(_f)
OUTSIDE_ROM = next(r for r, role in _SCENARIO["config"]["onewire"]["roles"].items() if role == "heatpump_outsideT")


@pytest.fixture(scope="module")
def board(broker):
    build = session_build()
    if not os.path.exists(os.path.join(build, "firmware", "www", "index.html.gz")):
        build_www(build)  # until tools/build.py ships the assets itself
    tmp = tempfile.mkdtemp(prefix="hpmon-dash-")
    config = json.loads(json.dumps(_SCENARIO["config"]))
    config["web"] = {"history_s": 10}  # chart points every 10 s (the smallest allowed) instead of 60
    scenario = write_scenario(os.path.join(tmp, "scenario.json"), DEFAULT, config=config,
                              faults=[{"kind": "ds18b20_unplugged", "target": OUTSIDE_ROM}])
    b = start_board(scenario, broker_port=broker.port, heap="2M")
    b.url = "http://127.0.0.1:%d/" % b.http_port
    # the dashboard needs wall time (NTP) for its charts: wait for a timed reading
    wait_state(b.http_port, lambda s: (s["channels"].get("heatpump_flowT") or {}).get("ts"), timeout=60)
    yield b
    b.stop()


def _basic(board, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (board.http_port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _number(text):
    return float(text.replace("−", "-"))


def _no_js_errors(b):
    errors = [m for m in b.console() if "SEVERE" in m or "Uncaught" in m]
    # failed requests the test provokes itself (400 on a bad field, 401 on a wrong password) are fine
    errors = [m for m in errors if not re.search(r" (400|401|503) ", m)]
    assert not errors, errors


def test_dashboard_shows_live_values_that_change(board):
    with Browser(PHONE) as b:
        b.get(board.url)
        flow = b.wait(lambda: (b.text("#t-heatpump_flowT .v") or DASH) != DASH and b.text("#t-heatpump_flowT .v"),
                      what="a flow temperature on the dashboard")
        assert b.text("#t-heatpump_flowT .u") == "°C"
        api = get_json(board.http_port)["channels"]["heatpump_flowT"]["value"]
        # one decimal on the tile; the ramp (0.075 K/s) moves it a little between the two reads
        assert abs(_number(flow) - api) < 2.0, (flow, api)
        assert b.wait(lambda: b.text("#live") == "live", what="the event stream")
        # the scenario ramps the flow temperature: the tile changes without a reload
        later = b.wait(lambda: b.text("#t-heatpump_flowT .v") not in (flow, DASH) and b.text("#t-heatpump_flowT .v"),
                       timeout=40, what="the flow tile to change")
        assert _number(later) != _number(flow)
        elec = b.text("#t-heatpump_elec .v")
        assert elec != DASH and _number(elec) >= 0
        assert b.text("#badge") in ("Off", "Standby", "Running", "Defrost", "Hot water")
        _no_js_errors(b)


def test_charts_draw_the_history_ring(board):
    hist = None
    deadline = time.time() + 60
    while time.time() < deadline:
        hist = get_json(board.http_port, "/api/history?channels=heatpump_flowT&minutes=60")
        if sum(v is not None for v in hist["series"]["heatpump_flowT"]) >= 3:
            break
        time.sleep(2)
    assert sum(v is not None for v in hist["series"]["heatpump_flowT"]) >= 3, hist
    with Browser(DESKTOP) as b:
        b.get(board.url)
        b.wait(lambda: b.count('[data-chart="Temperatures"] svg') == 1, what="the temperature chart")
        for name in ("Power", "COP", "Temperatures"):
            assert b.count('[data-chart="%s"]' % name) == 1
        assert b.count('[data-chart="Power"] svg path') >= 1  # electric power from the CT
        # COP has points only while the compressor runs; else the chart says so
        assert b.count('[data-chart="COP"] svg path') == 1 or b.text('[data-chart="COP"] .nodata') == "no data yet"
        d = b.js('var p=document.querySelector(\'[data-chart="Temperatures"] path[data-series="heatpump_flowT"]\');'
                 'return p?p.getAttribute("d"):null')
        assert d and d.startswith("M")
        points = re.findall(r"[ML]([\d.]+) ([\d.]+)", d)
        assert len(points) >= 3
        # time runs left to right; axis labels are there
        xs = [float(p[0]) for p in points]
        assert xs == sorted(xs)
        labels = b.js("return Array.from(document.querySelectorAll('[data-chart=\"Temperatures\"] text'))"
                      ".map(t=>t.textContent)")
        assert any(re.match(r"^\d\d:\d\d$", t) for t in labels), labels
        assert any(re.match(r"^-?\d+(\.\d+)?$", t) for t in labels), labels
        _no_js_errors(b)


def test_unknown_values_show_as_unknown(board):
    state = get_json(board.http_port)
    outside = state["channels"].get("heatpump_outsideT", {"value": None})
    assert outside["value"] is None  # the sensor is unplugged in this scenario
    assert state["channels"]["heatpump_cop_yesterday"]["value"] is None  # no day has closed yet
    with Browser(PHONE) as b:
        b.get(board.url)
        b.wait(lambda: (b.text("#t-heatpump_flowT .v") or DASH) != DASH, what="live values")
        assert b.text("#t-heatpump_outsideT .v") == DASH
        assert "unknown" in b.js("return document.getElementById('t-heatpump_outsideT').className")
        cells = b.js("return Array.from(document.querySelectorAll('#days tr'))"
                     ".map(r=>Array.from(r.cells).map(c=>c.textContent))")
        cop = next(r for r in cells if r[0] == "COP")
        assert cop[2] == DASH  # yesterday: unknown, not 0
        assert cop[1] != DASH or state["channels"]["heatpump_cop_today"]["value"] is None
        assert "0" not in b.text("#t-heatpump_outsideT .v")


def test_screenshots_phone_and_desktop(board):
    os.makedirs(ARTIFACTS, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        with Browser(size) as b:
            b.get(board.url)
            b.wait(lambda: b.count("#charts svg path") >= 3, timeout=40, what="charts with data")
            b.wait(lambda: (b.text("#t-heatpump_heat .v") or DASH) != DASH, what="live values")
            # nothing sticks out sideways at this width
            assert b.js("return document.documentElement.scrollWidth <= window.innerWidth + 1"), label
            path = b.screenshot(os.path.join(ARTIFACTS, "dashboard-%s.png" % label))
            assert os.path.getsize(path) > 10000
            if label == "desktop" and (os.environ.get("HPMON_UPDATE_SCREENSHOT") or not os.path.exists(DOCS_SHOT)):
                b.screenshot(DOCS_SHOT)


def _login(b, password=PASSWORD):
    # visible, not only present: the page may still be drawing the tab it was asked for
    b.wait(lambda: b.driver.find_element("css selector", "#login-pw").is_displayed(), what="the login form")
    b.set_value("#login-pw", password)
    b.click("#login button[type=submit]")


def test_first_visit_sets_the_password_then_login_is_needed(board):
    assert get_json(board.http_port, "/api/auth")["password_set"] is False
    with Browser(PHONE) as b:
        b.get(board.url + "#settings")
        b.wait_css("#login-pw2")  # the setup form: password twice
        b.set_value("#login-pw", "short")
        b.set_value("#login-pw2", "short")
        b.click("#login button[type=submit]")
        b.wait(lambda: "8" in (b.text("#login .msg") or ""), what="the too-short message")
        assert b.count("#settings-form") == 0
        b.set_value("#login-pw", PASSWORD)
        b.set_value("#login-pw2", PASSWORD)
        # proof of ownership: without the access point's password (serial console) no setup
        b.set_value("#login-ap", "not-the-ap-key")
        b.click("#login button[type=submit]")
        b.wait(lambda: "access point" in (b.text("#login .msg") or ""), what="the proof-of-ownership message")
        assert b.count("#settings-form") == 0
        b.set_value("#login-ap", ap_password(board))
        b.click("#login button[type=submit]")
        b.wait_css("#settings-form")
        assert b.js("return document.getElementById('f-node').value") == "hpmon"
        # secrets never come back: the Wi-Fi key field is empty with a "set" placeholder
        assert b.js("return document.getElementById('f-wifi.key').value") == ""
        assert b.js("return document.getElementById('f-wifi.key').placeholder").startswith("set")
        assert b.js("return document.getElementById('f-mqtt.password').placeholder") == "not set"
    assert get_json(board.http_port, "/api/auth")["password_set"] is True
    with Browser(PHONE) as b:  # a new browser: no session, so the login form
        b.get(board.url + "#settings")
        b.wait_css("#login-pw")
        assert b.count("#login-pw2") == 0
        _login(b, "not-the-password")
        b.wait(lambda: b.text("#login .msg") == "Wrong password.", what="the wrong-password message")
        _login(b)
        b.wait_css("#settings-form")
        _no_js_errors(b)


def _save_settings(b, board, values):
    """Log in on the settings page, type values ({css: text}) and press Save."""
    b.get(board.url + "#settings")
    _login(b)
    b.wait_css("#settings-form")
    for css, text in values.items():
        b.set_value(css, text)
    b.click("#save")


def test_a_wrong_field_shows_its_error_next_to_it(board):
    with Browser(DESKTOP) as b:
        _save_settings(b, board, {"#f-mqtt\\.port": "99999", "#f-mqtt\\.keepalive_s": "45"})
        err = b.wait(lambda: b.text('[data-err="mqtt.port"]'), what="the mqtt.port error")
        assert "65535" in err
        # the message sits in the MQTT port's own field row, and the input is marked
        assert b.js("var e=document.querySelector('[data-err=\"mqtt.port\"]');"
                    "return e.parentNode.contains(document.getElementById('f-mqtt.port'))")
        assert b.js("return document.getElementById('f-mqtt.port').getAttribute('aria-invalid')") == "true"
        assert b.text('[data-err="mqtt.keepalive_s"]') == ""
        assert "Nothing was saved" in b.text("#settings-msg")
    cfg = _basic(board, "GET", "/api/config")
    assert cfg["mqtt"]["keepalive_s"] == 60  # nothing saved: the valid field neither


def test_a_setting_round_trips_and_survives_a_restart(board):
    boots = len(board.boots)
    with Browser(DESKTOP) as b:
        _save_settings(b, board, {"#f-node": "attic", "#f-mqtt\\.keepalive_s": "45"})
        b.wait(lambda: "Saved" in (b.text("#settings-msg") or ""), what="saved")
        assert _basic(board, "GET", "/api/config")["node"] == "attic"
        b.get(board.url + "#system")
        b.wait_css("#restart")
        b.click("#restart")
        b.driver.switch_to.alert.accept()  # "Restart the monitor now?"
        b.wait(lambda: len(board.boots) > boots, timeout=60, what="the board to reboot")
        # the page reloads itself once the board answers again, with the new node name
        b.wait(lambda: b.text("#node") == "attic", timeout=90, what="the new node name after the restart")
        b.get(board.url + "#settings")
        _login(b)  # sessions live in RAM: a restart ends them
        b.wait_css("#settings-form")
        assert b.js("return document.getElementById('f-node').value") == "attic"
        assert b.js("return document.getElementById('f-mqtt.keepalive_s').value") == "45"
    assert "Traceback" not in console(board)
