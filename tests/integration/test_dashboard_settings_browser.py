"""The dashboard's setup helpers in headless Chromium against one emulated board: the Wi-Fi scan
on the settings page, the CT helper (live readings against the scenario's truth, calibration from
a reference reading), DS18B20 role assignment (published under the role after the restart) and the
firmware update form (a damaged set is refused with the board's reason, a good one installs).

One board for the module, booting from its own flash (so an update can install); the tests run
in file order and build on each other (the role and the calibration are saved in one test and
checked after the restart in the next; the update comes last).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile

import pytest
from selenium.webdriver.support.ui import Select

from tests.browser import DESKTOP, PHONE, Browser
from tests.helpers import ap_password, console, get_json, session_build, start_board, wait_state, write_scenario
from tests.integration.test_dashboard_browser import PASSWORD, _login, _no_js_errors, _number
from tests.integration.test_update import _source_version, _variant
from tools import paths
from tools import update as update_tool

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
GOOD = "9.9.9-browser"
ROOM = "28ffd407731605fd"
NETWORKS = [{"ssid": "home", "key": "heatpump123", "rssi": -58},  # the first: the board joins it
            {"ssid": "cafe", "rssi": -83},                         # open
            {"ssid": "neighbour", "key": "their-key-123", "rssi": -71, "channel": 11}]
CT1 = {"input": 1, "real_power_w": 1500.0, "pf": 0.95, "phase_lead_deg": 4.2,
       "harmonics": [[3, 0.12, 200], [5, 0.06, 30]]}

with open(DEFAULT) as _f:
    _BASE = json.load(_f)


def _ct_truth(scenario):
    """The simulator's analytic truth for CT1: real_power_w, vrms, irms, pf, freq_hz."""
    if paths.SIM_DIR not in sys.path:
        sys.path.append(paths.SIM_DIR)
    import sim_waveforms
    return sim_waveforms.Signals(scenario["mains"], scenario["ct"], scenario.get("adc")).truth(0)


@pytest.fixture(scope="module")
def board():
    tmp = tempfile.mkdtemp(prefix="hpmon-dash-settings-")
    base = session_build()
    config = json.loads(json.dumps(_BASE["config"]))
    del config["onewire"]["roles"][ROOM]  # found on its bus, but no role yet: the test assigns one
    config["mqtt"] = {"enabled": False}
    # a steady world (no timeline): 1.5 kW on CT1, every temperature constant
    scenario = write_scenario(os.path.join(tmp, "scenario.json"), DEFAULT, config=config, timeline=[],
                              wifi={"networks": NETWORKS}, ct=[CT1] + _BASE["ct"][1:])
    state_dir = os.path.join(tmp, "board")
    shutil.copytree(base, os.path.join(state_dir, "flash"))  # boots from its flash: updates install
    b = start_board(scenario, heap="2M", state_dir=state_dir, firmware_dir=None)
    try:
        assert b.firmware() == b.flash_dir
        b.url = "http://127.0.0.1:%d/" % b.http_port
        b.tmp = tmp
        wait_state(b.http_port, lambda s: all((s["channels"].get(n) or {}).get("value") is not None
                                              for n in ("ct1_power", "vrms", "t_" + ROOM)), timeout=60)
        # the first admin password, with the access point's password as proof (as the setup form does)
        status, doc = _call(b, "POST", "/api/auth/setup", {"password": PASSWORD, "ap_password": ap_password(b)},
                            auth=False)
        assert status == 200, doc
        yield b
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _call(board, method, path, body=None, auth=True):
    """(status, JSON) of one HTTP request, as admin (HTTP Basic) unless auth is False."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (board.http_port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode())
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _admin(b, board, tab):
    """Log in on the settings page, then open tab (the session cookie stays in this browser)."""
    b.get(board.url + "#settings")
    _login(b)
    b.wait_css("#settings-form")
    if tab != "settings":
        b.get(board.url + "#" + tab)


def _click_text(b, tag, text):
    b.driver.find_element("xpath", "//%s[normalize-space()='%s']" % (tag, text)).click()


def test_wifi_scan_lists_the_networks_and_picking_one_fills_the_ssid(board):
    with Browser(PHONE) as b:
        _admin(b, board, "settings")
        assert b.js("return document.getElementById('f-wifi.ssid').value") == "home"
        assert b.count("#scan .net") == 0
        _click_text(b, "button", "Scan for networks")
        b.wait(lambda: b.count("#scan .net") == 3, timeout=30, what="three networks from the scan")
        shown = b.js("return Array.from(document.querySelectorAll('#scan .net')).map(e=>e.textContent)")
        # strongest first, with the security of the keyed ones (the scenario's networks)
        assert shown == ["home (-58 dBm, WPA2)", "neighbour (-71 dBm, WPA2)", "cafe (-83 dBm)"], shown
        status, scan = _call(board, "GET", "/api/wifi/scan")
        assert status == 200 and [n["ssid"] for n in scan["networks"]] == ["home", "neighbour", "cafe"], scan
        # picking one fills the SSID field and moves on to its password
        _click_text(b, "button", "neighbour (-71 dBm, WPA2)")
        assert b.js("return document.getElementById('f-wifi.ssid').value") == "neighbour"
        assert b.js("return document.activeElement.id") == "f-wifi.key"
        _no_js_errors(b)
    # picking is not saving
    assert _call(board, "GET", "/api/config")[1]["wifi"]["ssid"] == "home"


def _ct_rows(b):
    return b.js("return Array.from(document.querySelectorAll('#ct table tr'))"
                ".map(r=>Array.from(r.cells).map(c=>c.textContent))")


def _watts(text):
    value, unit = text.split()
    return _number(value) * (1000 if unit == "kW" else 1)


def test_ct_helper_shows_the_truth_and_calibrates_the_voltage(board):
    truth = _ct_truth(board.scenario)
    with Browser(DESKTOP) as b:
        _admin(b, board, "sensors")
        b.wait(lambda: len(_ct_rows(b)) == 2, what="the CT table")
        line = b.text("#ct p")
        m = re.match(r"Voltage ([\d.]+) V · frequency ([\d.]+) Hz · vratio ([\d.]+)$", line)
        assert m, line
        volts, hz, vratio = (float(x) for x in m.groups())
        assert abs(volts - truth["vrms"]) < 1.0, (line, truth)
        assert abs(hz - truth["freq_hz"]) < 0.05, (line, truth)
        assert vratio == 460.0
        head, ct1 = _ct_rows(b)
        assert head == ["Input", "Power", "Irms", "PF", "ical"]
        assert ct1[0] == "CT1"
        assert abs(_watts(ct1[1]) - truth["real_power_w"]) < 0.02 * truth["real_power_w"], (ct1, truth)
        assert ct1[2].endswith(" A") and abs(_number(ct1[2][:-2]) - truth["irms"]) < 0.02 * truth["irms"], (ct1, truth)
        assert abs(_number(ct1[3]) - truth["pf"]) < 0.02, (ct1, truth)
        assert ct1[4] == "60.606"
        # the calibration helper: new = old x reference / measured
        Select(b.driver.find_element("css selector", "#ct-what")).select_by_value("1")
        b.set_value("#ct-ref", "7")
        out = b.wait(lambda: (b.text("#ct-out") or "").startswith("New ical: ") and b.text("#ct-out"))
        ical = float(out.split(": ")[1])
        assert abs(ical - 60.606 * 7 / truth["irms"]) < 0.02 * ical, (out, truth)
        Select(b.driver.find_element("css selector", "#ct-what")).select_by_value("v")
        b.set_value("#ct-ref", "250")
        out = b.wait(lambda: (b.text("#ct-out") or "").startswith("New vratio: ") and b.text("#ct-out"))
        new_vratio = float(out.split(": ")[1])
        assert abs(new_vratio - 460.0 * 250 / volts) < 0.2, (out, volts)  # the voltage shown, to 0.1 V
        assert abs(new_vratio - 460.0 * 250 / truth["vrms"]) < 0.005 * new_vratio, (out, truth)
        _click_text(b, "button", "Apply")
        b.wait(lambda: "Saved" in (b.text("#sensors > div") or ""), what="the calibration saved")
        _no_js_errors(b)
    assert _call(board, "GET", "/api/config")[1]["ct"]["vratio"] == new_vratio
    board.new_vratio = new_vratio


def test_a_sensor_gets_a_role_on_the_sensors_page(board):
    roles = dict(_BASE["config"]["onewire"]["roles"])
    with Browser(DESKTOP) as b:
        _admin(b, board, "sensors")
        b.wait_css('select[data-rom="%s"]' % ROOM)
        rows = b.js("return Array.from(document.querySelectorAll('#ow table tr')).slice(1)"
                    ".map(r=>[r.cells[0].textContent, r.cells[2].textContent, r.cells[3].textContent,"
                    " r.cells[4].querySelector('select').value])")
        found = {r[0]: r for r in rows}
        assert set(found) == set(_BASE["temperatures"]), rows  # every DS18B20 of the scenario, by ROM
        for rom, (_rom, value, status, role) in found.items():
            assert status == "ok", rows
            assert abs(_number(value.split()[0]) - _BASE["temperatures"][rom]) < 0.1, rows
            assert role == ("" if rom == ROOM else roles[rom]), rows
        assert (get_json(board.http_port)["channels"].get("heatpump_roomT") or {}).get("value") is None
        Select(b.driver.find_element("css selector", 'select[data-rom="%s"]' % ROOM)).select_by_value("heatpump_roomT")
        b.wait(lambda: "Saved" in (b.text("#sensors > div") or ""), what="the role saved")
        _no_js_errors(b)
    cfg = _call(board, "GET", "/api/config")[1]
    assert cfg["onewire"]["roles"] == roles  # the new one added, the others kept
    assert cfg["ct"]["vratio"] == board.new_vratio  # the calibration of the test before is kept too


def test_after_the_restart_the_role_and_the_calibration_apply(board):
    boots = len(board.boots)
    status, doc = _call(board, "POST", "/api/restart")
    assert status == 200, doc
    deadline = time.time() + 30
    while len(board.boots) == boots and time.time() < deadline:
        time.sleep(0.2)
    assert len(board.boots) > boots, "the board did not restart"
    state = wait_state(board.http_port, lambda s: all((s["channels"].get(n) or {}).get("value") is not None
                                                      for n in ("heatpump_roomT", "vrms")), timeout=60)
    room = state["channels"]["heatpump_roomT"]
    assert abs(room["value"] - _BASE["temperatures"][ROOM]) < 0.1, room  # the assigned sensor's reading
    assert room["value"] == state["channels"]["t_" + ROOM]["value"]
    # the board now reads the voltage the reference meter showed
    assert abs(state["channels"]["vrms"]["value"] - 250.0) < 1.0, state["channels"]["vrms"]
    with Browser(PHONE) as b:
        b.get(board.url)
        tile = b.wait(lambda: (b.text("#t-heatpump_roomT .v") or "–") != "–" and b.text("#t-heatpump_roomT .v"),
                      what="the room tile")
        assert abs(_number(tile) - _BASE["temperatures"][ROOM]) < 0.1
        b.get(board.url + "#sensors")  # not logged in: the role shows as text
        b.wait(lambda: b.count("#ow table tr") == 5, what="the sensor table")
        role = b.js("return Array.from(document.querySelectorAll('#ow table tr'))"
                    ".find(r=>r.cells[0].textContent===arguments[0]).cells[4].textContent", ROOM)
        assert role == "heatpump_roomT"


def _zip(path, files, manifest, folder):
    """A .zip of an update set as a user would pick it: folder/manifest.json and folder/<path>."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(folder + "/manifest.json", json.dumps(manifest))
        for rel, data in files.items():
            z.writestr(folder + "/" + rel, data)
    return path


def _read_set(build_dir):
    out = {}
    for rel, full in update_tool.collect(build_dir).items():
        with open(full, "rb") as f:
            out[rel] = f.read()
    return out


def _pick(b, path):
    """Choose a file in the update form's .zip picker (a hidden file input, as the page has it)."""
    b.driver.find_element("css selector", "#fw-zip").send_keys(path)


def test_update_form_refuses_a_damaged_set_then_installs_a_good_one(board):
    port = board.http_port
    old = _source_version()
    good_dir = _variant(session_build(), os.path.join(board.tmp, "good", "build"),
                        {"version": 'VERSION = "%s"\n' % GOOD})
    good = _read_set(good_dir)
    good_zip = _zip(os.path.join(board.tmp, "good.zip"), good,
                    {"version": GOOD, "files": {k: update_tool.sha256_file(os.path.join(good_dir, k)) for k in good}},
                    "hpmon-" + GOOD)
    # a damaged download of another set: app.mpy is not what its manifest says, and it has a
    # file that the good set has not
    bad = dict(good)
    bad["firmware/leftover.mpy"] = b"M\x06\x00\x1f not in the good set"
    manifest = {"version": "6.6.6-bad", "files": {k: update_tool.sha256_file(os.path.join(good_dir, k))
                                                  for k in good}}
    manifest["files"]["firmware/leftover.mpy"] = hashlib.sha256(bad["firmware/leftover.mpy"]).hexdigest()
    bad["firmware/app.mpy"] = b"damaged in transit"
    bad_zip = _zip(os.path.join(board.tmp, "bad.zip"), bad, manifest, "hpmon-bad")
    boots, uptime = len(board.boots), get_json(port)["uptime_s"]
    with Browser(DESKTOP) as b:
        _admin(b, board, "system")
        b.wait_css("#fw-zip")
        _pick(b, bad_zip)
        msg = b.wait(lambda: "failed" in (b.text("#update-msg") or "") and b.text("#update-msg"),
                     timeout=120, what="the update to fail")
        assert msg.startswith("Update failed: firmware/app.mpy") and "sha256" in msg, msg
        # every file reached the board's update endpoint; it checked them and refused the set
        upd = get_json(port, "/api/update")
        assert upd["state"] == "staging" and upd["staged_files"] == len(bad), upd
        assert upd["running"] == old and upd["pending"] is None, upd
        assert not os.path.exists(os.path.join(board.flash_dir, "update.json"))
        time.sleep(1.5)  # a restart would come 0.5 s after a commit
        state = get_json(port)
        assert len(board.boots) == boots and state["uptime_s"] > uptime and state["version"] == old
        assert state["channels"]["vrms"]["value"] is not None  # still measuring
        _no_js_errors(b)
        # the right set next: what the failed attempt left staged must not get in its way
        _pick(b, good_zip)
        b.wait(lambda: b.text("#update-msg") != msg, what="the second upload to start")  # not the old error
        msg = b.wait(lambda: re.search("accepted|failed", b.text("#update-msg") or "") and b.text("#update-msg"),
                     timeout=120, what="the good update to finish")
        assert msg == "Firmware %s accepted: the monitor restarts into it." % GOOD, msg
    state = wait_state(port, lambda s: s["version"] == GOOD, timeout=60)
    assert not state["safe_mode"] and len(board.boots) > boots
    upd = get_json(port, "/api/update")
    assert upd["running"] == GOOD and upd["previous"] == old, upd
    assert "swap: version %s on trial" % GOOD in console(board)
