"""The M-Bus master driver (firmware/drivers/mbus_master.py) and service (services/mbus.py)
under the MicroPython unix port, against the emulator's simulated meters on a simulated UART.

Each test runs a snippet on the unix port with a scenario of meters; the snippet prints one
JSON line (RESULT ...) that the test checks. The UART is the emulator's machine.UART, which
delivers the meters' replies at the pace of the line, so timeouts and the asyncio
StreamReader path are exercised as on the board.
"""
import json

from firmware import mbus_frame as mf
from tests.host.upy import SERVICE_CONTEXT, run_upy

PRELUDE = r'''
import asyncio, json, time, machine
from firmware.drivers import mbus_master as mm

class Rec(machine.UART):
    """The board's UART, recording what the master sends."""
    def __init__(self, *a, **kw):
        self.sent = []
        super().__init__(*a, **kw)
    def write(self, data):
        self.sent.append(bytes(data).hex())
        return super().write(data)

def uart(baud=2400):
    return Rec(2, baudrate=baud, bits=8, parity=0, stop=1, rx=16, tx=17, timeout=0)

def result(obj):
    print("RESULT " + json.dumps(obj))
'''


def _run(body, meters, faults=(), timeout=60):
    code = PRELUDE + body + "\nasyncio.run(main())\n"
    scenario = {"heat_meter": meters, "faults": list(faults)}
    r = run_upy(code, scenario, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stdout + r.stderr
    return json.loads(lines[-1][7:])


def _meter(model, address, **kw):
    spec = {"model": model, "address": address, "power_w": 4200.0, "flow_m3h": 0.72,
            "flowT": 42.5, "returnT": 37.5}
    spec.update(kw)
    return spec


def _c_fields(sent):
    """C field of every short frame the master sent (REQ_UD2 / SND_NKE)."""
    out = []
    for h in sent:
        b = bytes.fromhex(h)
        if b[0] == 0x10:
            out.append(b[1])
    return out


def test_kamstrup_read_by_primary_address():
    res = _run(r'''
async def main():
    u = uart()
    m = mm.MBusMaster(u)
    st1 = await m.reset(5)
    out = {}
    st2, hdr = await m.read(5, out)
    result({"st": [st1, st2], "out": out, "hdr": hdr, "sent": u.sent})
''', [_meter("kamstrup_multical_403", 5, energy_wh_initial=8123000, secondary_id=12345678)])
    assert res["st"] == ["ok", "ok"]
    assert res["hdr"]["id"] == 12345678 and res["hdr"]["manufacturer"] == "KAM"
    out = res["out"]
    assert out["energy_wh"] == 8123000  # whole kWh register, the first seconds add < 1 kWh
    assert out["power_w"] == 4200 and abs(out["flow_m3h"] - 0.72) < 1e-9
    assert out["flow_t"] == 42.5 and out["return_t"] == 37.5 and out["delta_t"] == 5.0
    # SND_NKE 10 40 05 45 16, then REQ_UD2 with FCV and FCB = 1 (C = 7B) after the reset
    assert res["sent"] == [mf.snd_nke(5).hex(), mf.req_ud2(5, True).hex()]


def test_multi_telegram_read_follows_dif_1f_toggling_fcb():
    body = r'''
async def main():
    u = uart()
    m = mm.MBusMaster(u)
    out = {}
    await m.reset(1)
    st, hdr = await m.read(1, out, 8, ENOUGH)
    result({"st": st, "out": out, "sent": u.sent})
'''
    meters = [_meter("multi_telegram", 1, energy_wh_initial=1234567, volume_m3_initial=321.5)]
    full = _run("ENOUGH = ()\n" + body, meters)
    assert full["st"] == "ok"
    # telegram 1: energy (Wh) and volume; telegram 2: temperatures, power, flow; telegram 3:
    # time and billing values (not in the summary)
    out = full["out"]
    assert out["energy_wh"] in (1234567, 1234568) and abs(out["volume_m3"] - 321.5) < 0.002
    assert out["flow_t"] == 42.5 and out["return_t"] == 37.5 and out["power_w"] == 4200
    assert _c_fields(full["sent"]) == [0x40, 0x7B, 0x5B, 0x7B]  # NKE, FCB 1, 0, 1
    early = _run('ENOUGH = ("energy_wh", "power_w", "flow_t", "return_t", "flow_m3h")\n' + body, meters)
    assert early["st"] == "ok" and early["out"]["power_w"] == 4200
    assert _c_fields(early["sent"]) == [0x40, 0x7B, 0x5B]  # stops once everything is known


def test_sontex_page_select_and_float_values():
    res = _run(r'''
async def main():
    u = uart()
    m = mm.MBusMaster(u)
    await m.reset(0x64)
    st = await m.page(0x64, 3)
    out = {}
    st2, hdr = await m.read(0x64, out, 1)
    out0 = {}
    await m.page(0x64, 0)
    st3, hdr0 = await m.read(0x64, out0, 1)
    result({"st": [st, st2, st3], "out": out, "out0": out0, "sent": u.sent, "man": hdr["manufacturer"]})
''', [_meter("sontex_supercal_531", 0x64, energy_wh_initial=5000000, power_w=6100.0, flowT=45.25,
             returnT=40.25, flow_m3h=1.05)])
    assert res["st"] == ["ok", "ok", "ok"] and res["man"] == "SON"
    assert res["sent"][1] == "68070768536451" + "01ff0803" + "1316"  # the seed firmware's page-3 frame
    page3 = res["out"]
    assert page3["flow_t"] == 45.25 and page3["return_t"] == 40.25 and page3["delta_t"] == 5.0
    assert abs(page3["power_w"] - 6100) < 0.01 and abs(page3["flow_m3h"] - 1.05) < 1e-6
    assert "energy_wh" not in page3
    assert res["out0"]["energy_wh"] == 5000000  # page 0: energy in MJ (18000 MJ)


def test_wildcard_search_finds_every_meter():
    ids = [12345678, 12345679, 12349999, 87654321, 12355678]
    meters = [_meter("kamstrup_multical_403", i + 1, secondary_id=ident) for i, ident in enumerate(ids)]
    meters[1]["model"] = "multi_telegram"
    meters[2]["model"] = "sontex_supercal_531"
    res = _run(r'''
async def main():
    u = uart()
    m = mm.MBusMaster(u, timeout_ms=100)  # the simulated meters answer within 35 ms
    found = []
    n = await m.search(lambda h, a: found.append([h["id"], a, h["manufacturer"]]))
    st = await m.select("87654321")
    out = {}
    st2, hdr = await m.read(0xFD, out, 1)
    result({"n": n, "found": found, "st": [st, st2], "id": hdr["id"], "probes": m.requests})
''', meters, timeout=120)
    assert res["n"] == len(ids)
    assert sorted(f[0] for f in res["found"]) == sorted(ids)
    for ident, a, _man in res["found"]:
        assert a == ids.index(ident) + 1  # the primary address from the answering frame
    assert res["st"] == ["ok", "ok"] and res["id"] == 87654321


def test_failures_are_classified_and_retried_with_the_same_fcb():
    meters = [_meter("kamstrup_multical_403", 1), _meter("kamstrup_multical_403", 2),
              _meter("kamstrup_multical_403", 3), _meter("kamstrup_multical_403", 4)]
    faults = [{"kind": "mbus_silent", "target": 1}, {"kind": "mbus_checksum", "target": 2},
              {"kind": "mbus_truncated", "target": 3}]
    res = _run(r'''
async def main():
    u = uart()
    m = mm.MBusMaster(u, retries=2)
    out = {}
    sts = []
    for a in (1, 2, 3, 4):
        u.sent = []
        st, f = await m.request(a, True)
        sts.append([st, f is not None, u.sent])
    result(sts)
''', meters, faults)
    assert [r[0] for r in res] == ["silent", "checksum", "truncated", "ok"]
    assert [r[1] for r in res] == [False, False, False, True]
    for a, (_st, _frame, sent) in zip((1, 2, 3), res[:3]):
        assert sent == [mf.req_ud2(a, True).hex()] * 3  # 1 + 2 retries, all with FCB 1
    assert len(res[3][2]) == 1


def test_garbage_and_echo_before_the_reply_are_skipped():
    res = _run(r'''
class Noise:
    """A level converter that echoes the request, plus line noise, ahead of the meter."""
    def configure(self, *a): pass
    def stream(self, now): return b""
    def write(self, data, now):
        return bytes(data) + b"\x00\x7f\x68\x05\x05", 1

async def main():
    u = uart()
    u._devices.insert(0, Noise())
    m = mm.MBusMaster(u)
    out = {}
    st1 = await m.reset(1)
    st2, hdr = await m.read(1, out, 1)
    result({"st": [st1, st2], "power": out.get("power_w"), "garbage": m.parser.garbage})
''', [_meter("kamstrup_multical_403", 1)])
    assert res["st"] == ["ok", "ok"] and res["power"] == 4200 and res["garbage"] > 0


def test_wrong_baud_rate_then_switch():
    res = _run(r'''
async def main():
    u = uart(9600)
    m = mm.MBusMaster(u, baud=9600, retries=0)
    st1 = await m.reset(1)
    m.set_baud(2400)
    st2 = await m.reset(1)
    result([st1, st2, m.timeout_ms])
''', [_meter("kamstrup_multical_403", 1)])
    assert res[0] == "silent" and res[1] == "ok"
    assert res[2] == 330000 // 2400 + 150  # EN 13757-2: 330 bit times + 50 ms, plus margin


def test_a_silent_meter_never_blocks_the_scheduler():
    res = _run(r'''
gaps = [0]
async def ticker():
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(10)
        now = time.ticks_ms()
        gaps[0] = max(gaps[0], time.ticks_diff(now, last))
        last = now

async def main():
    t = asyncio.create_task(ticker())
    m = mm.MBusMaster(uart(), retries=2)
    t0 = time.ticks_ms()
    out = {}
    st, hdr = await m.read(1, out)
    took = time.ticks_diff(time.ticks_ms(), t0)
    t.cancel()
    result({"st": st, "took": took, "gap": gaps[0], "timeout": m.timeout_ms})
''', [_meter("kamstrup_multical_403", 1)], [{"kind": "mbus_silent"}])
    assert res["st"] == "silent"
    assert res["took"] >= 3 * res["timeout"]  # three attempts, each waited out
    assert res["gap"] < 100, res  # other tasks kept running (10 ms ticks)


SERVICE = SERVICE_CONTEXT + r'''
from firmware.services.mbus import MBusService

def snap(store, names):
    out = {}
    for n in names:
        ch = store.channels.get(n)
        out[n] = None if ch is None else [ch.value, ch.status, ch.unit]
    return out
'''


def test_service_publishes_maps_and_marks_unknown_after_failed_polls():
    res = _run(SERVICE + r'''
async def main():
    ctx = make({"interval_s": 2, "mbus": {"unknown_after": 2, "retries": 0,
                                          "meters": [{"address": 7}, {"address": 8, "poll_s": 3600}]},
                "onewire": {"enabled": False}})
    s = MBusService(ctx)
    task = asyncio.create_task(s.run())
    names = ("mbus_7_energy_wh", "mbus_7_power", "mbus_7_flowT", "mbus_7_returnT", "mbus_7_deltaT",
             "mbus_7_flowrate", "mbus_7_volume", "heatpump_heat", "heatpump_heat_wh",
             "heatpump_heat_kwh", "heatpump_flowrate", "heatpump_flowT", "heatpump_returnT",
             "mbus_8_power")
    # polls every 2 s from t = 0; the meter is silent from 3 s to 9 s
    await asyncio.sleep_ms(1500)
    good = snap(ctx.store, names)
    await asyncio.sleep_ms(3500)   # t = 5 s: the poll at 4 s failed
    stale = snap(ctx.store, names)
    await asyncio.sleep_ms(2000)   # t = 7 s: the poll at 6 s failed too
    unknown = snap(ctx.store, names)
    await asyncio.sleep_ms(4500)   # t = 11.5 s: the poll at 10 s answered
    back = snap(ctx.store, names)
    task.cancel()
    result({"good": good, "stale": stale, "unknown": unknown, "back": back,
            "reads8": s.meters[1].reads, "state": s.state()})
''', [_meter("kamstrup_multical_403", 7, energy_wh_initial=2000000),
      _meter("multi_telegram", 8, power_w=1000.0)],
        [{"kind": "mbus_silent", "target": 7, "at_s": 3, "until_s": 9}])
    good = res["good"]
    assert good["mbus_7_energy_wh"] == [2000000, "ok", "Wh"]
    assert good["mbus_7_power"] == [4200, "ok", "W"]
    assert good["mbus_7_flowrate"][0] == 12.0 and good["mbus_7_flowrate"][2] == "L/min"  # 0.72 m³/h
    assert good["mbus_7_volume"][2] == "m³" and good["mbus_7_deltaT"][:2] == [5.0, "ok"]
    # meter 7 (the first configured) feeds the heat pump channels; no DS18B20 roles: temperatures too
    assert good["heatpump_heat"][0] == 4200 and good["heatpump_heat_wh"][0] == 2000000
    assert good["heatpump_heat_kwh"] == [2000.0, "ok", "kWh"]
    assert good["heatpump_flowrate"][0] == 12.0 and good["heatpump_flowT"][0] == 42.5
    assert res["stale"]["mbus_8_power"][:2] == [1000, "ok"]
    stale = res["stale"]
    assert stale["mbus_7_power"] == [4200, "stale: silent", "W"]
    assert stale["heatpump_heat"][1] == "stale: silent"
    unknown = res["unknown"]
    for name in ("mbus_7_energy_wh", "mbus_7_power", "heatpump_heat", "heatpump_heat_kwh", "heatpump_flowT"):
        assert unknown[name][:2] == [None, "silent"], (name, unknown[name])
    assert unknown["mbus_8_power"][:2] == [1000, "ok"]  # the other meter is unaffected
    assert res["back"]["mbus_7_power"][:2] == [4200, "ok"]
    assert res["back"]["heatpump_heat"][:2] == [4200, "ok"]
    assert res["reads8"] == 1  # poll_s 3600: read once, at the start
    meters = res["state"]["meters"]
    assert meters[0]["name"] == "mbus_7" and meters[0]["manufacturer"] == "KAM"


def test_service_scan_polls_what_it_finds_and_detects_sontex():
    res = _run(SERVICE + r'''
async def main():
    ctx = make({"interval_s": 2, "mbus": {"scan": "secondary", "meters": []},
                "onewire": {"enabled": False}})
    s = MBusService(ctx)
    task = asyncio.create_task(s.run())
    for _ in range(100):
        await asyncio.sleep_ms(200)
        if all(m.reads >= 2 for m in s.meters) and len(s.meters) == 2:
            break
    task.cancel()
    out = snap(ctx.store, ("mbus_meters_found", "mbus_34567812_power", "mbus_98765432_power",
                           "mbus_98765432_energy_wh", "heatpump_heat"))
    result({"out": out, "found": s.found, "sontex": [m.sontex for m in s.meters],
            "names": [m.name for m in s.meters]})
''', [_meter("sontex_supercal_531", 3, secondary_id=98765432, energy_wh_initial=3600000, power_w=6100.0),
      _meter("kamstrup_multical_403", 9, secondary_id=34567812)], timeout=90)
    assert res["out"]["mbus_meters_found"][0] == 2
    assert sorted(res["names"]) == ["mbus_34567812", "mbus_98765432"]
    assert res["out"]["mbus_34567812_power"][0] == 4200
    assert abs(res["out"]["mbus_98765432_power"][0] - 6100) < 0.01
    assert res["out"]["mbus_98765432_energy_wh"][0] == 3600000  # 12960 MJ
    # auto model: the Sontex is recognised by its manufacturer code and gets page selects
    assert res["sontex"][res["names"].index("mbus_98765432")] is True
    # nothing configured: the first meter found feeds the heat pump channels
    assert res["out"]["heatpump_heat"] is not None
