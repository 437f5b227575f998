"""Connectivity services in the MicroPython unix port with the simulated network and
pins: the asyncio HTTP client (never holds the scheduler, times out on a silent
server), the Wi-Fi scan for the settings page, and the SSR output's schedule."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.host.upy import run_upy

HTTP = """
import asyncio, time, network
from firmware import http_client
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("home", "k")
while not sta.isconnected():
    time.sleep_ms(50)

gaps = []
async def ticker(stop):
    last = time.ticks_ms()
    while not stop[0]:
        await asyncio.sleep_ms(5)
        now = time.ticks_ms()
        gaps.append(time.ticks_diff(now, last))
        last = now

async def main():
    stop = [False]
    t = asyncio.create_task(ticker(stop))
    status, body = await http_client.request("POST", "http", "127.0.0.1", PORT, "/emoncms/input/post",
        (("Authorization", "Bearer k"),), b"node=hp&fulljson=%7B%7D", 5000)
    t0 = time.ticks_ms()
    try:
        await http_client.request("GET", "http", "127.0.0.1", SILENT, "/", (), b"", 1500)
        timed_out = None
    except OSError as exc:
        timed_out = time.ticks_diff(time.ticks_ms(), t0)
    stop[0] = True
    await t
    print("RESULT", status, body.decode(), timed_out, max(gaps))

asyncio.run(main())
"""


class _Handler(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers["Authorization"], body))
        self.send_response(200)
        self.send_header("Content-Length", "16")
        self.end_headers()
        self.wfile.write(b'{"success":true}')

    def log_message(self, *a):
        pass


def test_http_client_posts_and_times_out_without_holding_the_scheduler():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        code = HTTP.replace("PORT", str(server.server_address[1])).replace("SILENT", str(silent.getsockname()[1]))
        r = run_upy(code, scenario={"wifi": {"networks": [{"ssid": "home", "key": "k"}]}})
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")]
        assert line, r.stdout + r.stderr
        _, status, body, timed_out, max_gap = line[0].split(" ")
        assert status == "200" and body == '{"success":true}'
        assert _Handler.seen[-1] == ("/emoncms/input/post", "Bearer k", b"node=hp&fulljson=%7B%7D")
        assert 1400 <= int(timed_out) <= 2500
        assert int(max_gap) < 50  # a 5 ms ticker kept running during both requests
    finally:
        server.shutdown()
        silent.close()


SCAN = """
import network
from firmware import board as boardmod
from firmware.services.wifi import WifiService
from firmware.clock import Clock
from firmware.log import Log
cfg = {"node": "loft-hp", "wifi": {"ssid": "home", "key": "heatpump123", "ap_after_s": 300,
       "ap_hold_s": 600, "button_hold_s": 3}}
w = WifiService(boardmod.Board({"button": 0}), cfg, Log(echo=False), Clock(), boardmod.unique_id())
nets = w.scan()
print("SCAN", __import__("json").dumps(nets))
w._begin_station()
print("HOST", network.hostname())
w.start_ap("button")
ap = network.WLAN(network.AP_IF)
print("AP", ap.config("ssid"), ap.config("security"), len(w.password_ap), ap.active())
"""


def test_wifi_scan_hostname_and_wpa2_access_point():
    scenario = {"chip_id": "240ac4a1b2c3", "wifi": {"networks": [
        {"ssid": "home", "key": "heatpump123", "rssi": -70}, {"ssid": "home", "key": "x", "rssi": -50},
        {"ssid": "cafe", "rssi": -80, "channel": 11}, {"ssid": "", "rssi": -30}]}}
    r = run_upy(SCAN, scenario=scenario)
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in r.stdout.splitlines() if " " in ln}
    assert "SCAN" in lines, r.stdout + r.stderr
    nets = json.loads(lines["SCAN"])
    # strongest first, one entry per SSID (the strongest), hidden networks left out
    assert nets == [{"ssid": "home", "rssi": -50, "channel": 6, "security": "WPA2"},
                    {"ssid": "cafe", "rssi": -80, "channel": 11, "security": "open"}]
    assert lines["HOST"] == "loft-hp"
    ssid, security, keylen, active = lines["AP"].split(" ")
    assert ssid == "hpmon-b2c3" and security == "3" and int(keylen) >= 8 and active == "True"


SSR = """
import time
from firmware.store import Store
from firmware.log import Log
from firmware import board as boardmod
from firmware.services.ssr import SsrService
import machine

class Clock:
    wall_t = None
    def ticks(self): return time.ticks_ms()
    def wall(self): return self.wall_t

class Ctx: pass
ctx = Ctx()
ctx.cfg = {"ssr": {"enabled": True, "safe_state": "on", "timeout_s": 1, "schedule": ["06:00-07:00"],
                    "invert": False}, "analytics": {"tz": "CET-1CEST,M3.5.0,M10.5.0/3"}}
ctx.store = Store(); ctx.log = Log(echo=False); ctx.clock = Clock(); ctx.board = boardmod.Board({"ssr": 12})
s = SsrService(ctx)
out = [("boot", machine.Pin._outputs.get(12), s.mode)]
ctx.clock.wall_t = 1751328000 + 4 * 3600 + 30 * 60   # 2025-07-01 04:30 UTC = 06:30 CEST
s.evaluate(); out.append(("in window", machine.Pin._outputs.get(12), s.mode))
ctx.clock.wall_t += 3600                                # 07:30 CEST
s.evaluate(); out.append(("after", machine.Pin._outputs.get(12), s.mode))
s.command(True, "web"); out.append(("command", machine.Pin._outputs.get(12), s.mode))
time.sleep_ms(1100)
s.evaluate(); out.append(("timeout", machine.Pin._outputs.get(12), s.mode))
print("SSR", out, ctx.store.value("ssr"))
"""


def test_ssr_safe_state_at_boot_schedule_in_local_time_and_command_timeout():
    r = run_upy(SSR)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("SSR")]
    assert line, r.stdout + r.stderr
    assert line[0] == ("SSR [('boot', 1, 'safe'), ('in window', 1, 'schedule'), ('after', 0, 'schedule'), "
                       "('command', 1, 'command'), ('timeout', 0, 'schedule')] 0")


HTTPS = """
import asyncio, time, network
from firmware import http_client, tls
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("home", "k")
while not sta.isconnected():
    time.sleep_ms(50)

async def main():
    ok = tls.context(open(CA).read())
    status, body = await http_client.request("POST", "https", "127.0.0.1", PORT, "/input/post",
                                             (), b"x=1", 5000, ok)
    print("GOOD", status, body.decode())
    try:
        await http_client.request("POST", "https", "127.0.0.1", PORT, "/input/post", (), b"x=1", 5000,
                                  tls.context(open(OTHER).read()))
        print("BAD accepted")
    except Exception as exc:
        print("BAD refused", repr(exc)[:60])

asyncio.run(main())
"""


def test_https_verifies_the_server_against_the_configured_ca(tmp_path):
    import ssl

    from tests.integration.conn_helpers import make_ca
    good = make_ca(str(tmp_path / "good"))
    other = make_ca(str(tmp_path / "other"), "another CA")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(good["cert"], good["key"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = (HTTPS.replace("PORT", str(server.server_address[1])).replace("OTHER", repr(other["ca"]))
                .replace("CA", repr(good["ca"])))
        r = run_upy(code, scenario={"wifi": {"networks": [{"ssid": "home", "key": "k"}]}})
        assert "GOOD 200 {\"success\":true}" in r.stdout, r.stdout + r.stderr
        assert "BAD refused" in r.stdout, r.stdout + r.stderr
    finally:
        server.shutdown()
