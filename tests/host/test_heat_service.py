"""The VFS heat service (firmware/services/heat.py) and the DS18B20 extras of the temperature
service, under the MicroPython unix port with the emulator's simulated ADC and 1-Wire buses.

Expected heat is computed here with firmware.heat under CPython from the scenario's truth, so
the test checks the whole chain: scenario -> simulated sensor volts / scratchpads -> ADC and
1-Wire drivers -> vfs.py and heat.py in the service -> the store.
"""
import json

from firmware import heat
from tests.host.upy import SERVICE_CONTEXT, run_upy

FLOW_ROM = "28ff641e821603e2"
RETURN_ROM = "28ff1c5a92160496"
OUTSIDE_ROM = "28ff9a3bc1160441"

HARNESS = SERVICE_CONTEXT + r'''
import asyncio, json, time

def snap(store, prefix=""):
    out = {}
    for name, ch in store.channels.items():
        out[name] = [ch.value, ch.status, ch.unit]
    return out

def result(obj):
    print("RESULT " + json.dumps(obj))

async def start(ctx, with_temps=True):
    from firmware.services.heat import HeatService
    tasks = []
    if with_temps:
        from firmware.services.temperatures import TemperatureService
        tasks.append(asyncio.create_task(TemperatureService(ctx).run()))
    h = HeatService(ctx)
    tasks.append(asyncio.create_task(h.run()))
    return h, tasks
'''


def _run(body, scenario, timeout=90):
    r = run_upy(HARNESS + body + "\nasyncio.run(main())\n", scenario, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stdout + r.stderr
    return json.loads(lines[-1][7:])


def _scenario(**vfs):
    spec = {"flow_lpm": 14.3, "temp_c": 35.0, "range_lpm": [2, 40], "divider": 0.66}
    spec.update(vfs)
    return {"temperatures": {FLOW_ROM: 40.0, RETURN_ROM: 35.0, OUTSIDE_ROM: 6.5},
            "onewire_buses": {FLOW_ROM: 4, RETURN_ROM: 13, OUTSIDE_ROM: 14},
            "vfs": spec, "timeline": [], "faults": []}


def _close(value, expected, rel):
    return value is not None and abs(value - expected) <= abs(expected) * rel


def test_vfs_heat_matches_truth_then_zero_flow_then_unplugged():
    sc = _scenario()
    sc["timeline"] = [{"at_s": 8, "set": {"vfs.flow_lpm": 1.0}}]   # below Qmin: the VFS reads 0
    sc["faults"] = [{"kind": "vfs_unplugged", "at_s": 12, "until_s": 30}]
    res = _run(r'''
async def main():
    ctx = make({"interval_s": 1, "mbus": {"enabled": False}, "vfs": {"enabled": True},
                "onewire": {"roles": {"%s": "heatpump_flowT", "%s": "heatpump_returnT"}}})
    h, tasks = await start(ctx)
    await asyncio.sleep_ms(3500)
    wh0 = ctx.store.value("vfs_heat_wh")
    t0 = time.ticks_ms()
    await asyncio.sleep_ms(4000)
    heating = snap(ctx.store)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    await asyncio.sleep_ms(2500)   # t ~ 10 s
    zero = snap(ctx.store)
    await asyncio.sleep_ms(3500)   # t ~ 13.5 s
    unplugged = snap(ctx.store)
    for t in tasks:
        t.cancel()
    result({"heating": heating, "zero": zero, "unplugged": unplugged, "wh0": wh0, "dt": dt})
''' % (FLOW_ROM, RETURN_ROM), sc)
    truth = heat.heat_power_w(14.3, "l/min", 40.0, 35.0, "return")
    h = res["heating"]
    assert _close(h["vfs_flowrate"][0], 14.3, 0.005) and h["vfs_flowrate"][1:] == ["ok", "L/min"]
    assert _close(h["vfs_temp"][0], 35.0, 0.005)
    assert _close(h["vfs_heat"][0], truth, 0.01) and h["vfs_heat"][2] == "W"
    # the VFS is the heat source (auto: no M-Bus): the heat pump channels follow it
    assert h["heatpump_heat"][0] == h["vfs_heat"][0]
    assert h["heatpump_flowrate"][0] == h["vfs_flowrate"][0]
    wh = h["heatpump_heat_wh"][0]
    assert isinstance(wh, int) and h["heatpump_heat_kwh"][0] == wh / 1000
    gained = wh - res["wh0"]
    expected = truth * res["dt"] / 3600000.0
    assert abs(gained - expected) <= 2, (gained, expected)  # one interval either side + rounding
    assert h["heatpump_flowT"][0] == 40.0  # from the DS18B20 role (temperature service)
    z = res["zero"]
    assert z["vfs_flowrate"][:2] == [0.0, "zero"] and z["vfs_heat"][:2] == [0.0, "ok"]
    u = res["unplugged"]
    assert u["vfs_flowrate"][:2] == [None, "under_range"]
    assert u["vfs_heat"][:2] == [None, "flow: under_range"] and u["heatpump_heat"][0] is None
    assert u["vfs_heat_wh"][0] >= wh  # the total is kept, never reset or published as 0


def test_glycol_flow_side_and_vfs_temperature_standing_in():
    sc = _scenario(flow_lpm=20.0, temp_c=45.0)
    sc["temperatures"] = {FLOW_ROM: 45.0, RETURN_ROM: 38.0}
    res = _run(r'''
async def main():
    # the VFS sits in the flow pipe; no flow-temperature DS18B20: the VFS temperature stands in
    ctx = make({"interval_s": 1, "mbus": {"enabled": False}, "vfs": {"enabled": True},
                "heat": {"fluid": "propylene_glycol", "glycol_pct": 30, "flow_meter_side": "flow"},
                "onewire": {"roles": {"%s": "heatpump_returnT"}}})
    h, tasks = await start(ctx)
    await asyncio.sleep_ms(4500)
    out = snap(ctx.store)
    for t in tasks:
        t.cancel()
    result(out)
''' % RETURN_ROM, sc)
    truth = heat.heat_power_w(20.0, "l/min", 45.0, 38.0, "flow", heat.PROPYLENE_GLYCOL, 30)
    water = heat.heat_power_w(20.0, "l/min", 45.0, 38.0, "flow")
    assert abs(truth - water) > 0.03 * water  # glycol makes a real difference
    assert _close(res["vfs_heat"][0], truth, 0.01), (res["vfs_heat"], truth)
    assert _close(res["heatpump_flowT"][0], 45.0, 0.005)  # published from the VFS temperature


def test_clipping_and_comparison_with_a_meter():
    sc = _scenario(flow_lpm=39.0, divider=1.0)  # no divider: 3.43 V on a 3.1 V full-scale ADC
    res = _run(r'''
async def main():
    ctx = make({"interval_s": 1, "vfs": {"enabled": True, "divider": 1.0}, "heat": {"source": "mbus"},
                "onewire": {"roles": {"%s": "heatpump_flowT", "%s": "heatpump_returnT"}}})
    h, tasks = await start(ctx)
    await asyncio.sleep_ms(3500)
    out = snap(ctx.store)
    for t in tasks:
        t.cancel()
    result(out)
''' % (FLOW_ROM, RETURN_ROM), sc)
    assert res["vfs_flowrate"][:2] == [None, "clipped"]
    assert res["vfs_heat"][0] is None and "heatpump_heat" not in res  # the meter is the source here
    assert res["heat_source_diff_pct"][:2] == [None, "no reading"]

    sc = _scenario()
    res = _run(r'''
async def main():
    ctx = make({"interval_s": 1, "vfs": {"enabled": True}, "heat": {"source": "vfs"},
                "onewire": {"roles": {"%s": "heatpump_flowT", "%s": "heatpump_returnT"}}})
    h, tasks = await start(ctx)
    for _ in range(8):
        # what the M-Bus service would write: the meter says 5100 W
        ctx.store.update("mbus_1_power", 5100, "W", "ok", ctx.clock.ticks(), None)
        await asyncio.sleep_ms(500)
    out = snap(ctx.store)
    for t in tasks:
        t.cancel()
    result(out)
''' % (FLOW_ROM, RETURN_ROM), sc)
    vfs = res["vfs_heat"][0]
    assert _close(res["heat_source_diff_pct"][0], 100.0 * (vfs - 5100) / 5100, 1e-6)
    assert res["heat_source_diff_pct"][2] == "%"


def test_ds18b20_resolution_retries_and_faults():
    sc = {"temperatures": {FLOW_ROM: 40.03, RETURN_ROM: 35.0, OUTSIDE_ROM: 6.5},
          "onewire_buses": {FLOW_ROM: 4, RETURN_ROM: 13, OUTSIDE_ROM: 14},
          "faults": [{"kind": "ds18b20_crc", "target": RETURN_ROM, "at_s": 4, "until_s": 60},
                     {"kind": "onewire_stuck_low", "target": "14", "at_s": 4, "until_s": 60},
                     {"kind": "ds18b20_unplugged", "target": FLOW_ROM, "at_s": 4, "until_s": 9}]}
    res = _run(r'''
import sim_onewire_bus
async def main():
    ctx = make({"interval_s": 1, "mbus": {"enabled": False},
                "onewire": {"resolution": 10, "retries": 1,
                            "roles": {"%s": "heatpump_flowT", "%s": "heatpump_returnT"}}})
    from firmware.services.temperatures import TemperatureService
    svc = TemperatureService(ctx)
    task = asyncio.create_task(svc.run())
    await asyncio.sleep_ms(2500)
    good = snap(ctx.store)
    world = sim_onewire_bus.current_world()
    bus = sim_onewire_bus.bus_for(world, 4)
    res_bits = bus.devices[0].resolution()
    await asyncio.sleep_ms(3000)  # t ~ 5.5 s: faults on
    faulty = snap(ctx.store)
    # the flow sensor is back at 9 s; the next rescan (every 6 cycles) finds it
    for _ in range(100):
        await asyncio.sleep_ms(200)
        if ctx.store.value("t_%s") is not None:
            break
    back = snap(ctx.store)
    task.cancel()
    result({"good": good, "faulty": faulty, "back": back, "bits": res_bits,
            "back_bits": bus.devices[0].resolution(), "wait": svc.buses[0].conversion_ms(),
            "log": ctx.log.lines})
''' % (FLOW_ROM, RETURN_ROM, FLOW_ROM), sc)
    # 10 bits: 0.25 degC steps, so 40.03 reads 40.0; the wait is the 10-bit conversion time
    assert res["bits"] == 10 and res["wait"] == 188
    assert res["good"]["t_" + FLOW_ROM][:2] == [40.0, "ok"]
    assert res["good"]["heatpump_flowT"][0] == 40.0
    f = res["faulty"]
    assert f["t_" + RETURN_ROM][:2] == [None, "crc"] and f["heatpump_returnT"][:2] == [None, "crc"]
    assert f["t_" + OUTSIDE_ROM][0] is None and f["t_" + OUTSIDE_ROM][1] in ("all_zero", "bus stuck low")
    assert f["t_" + FLOW_ROM][0] is None and f["t_" + FLOW_ROM][1] in ("no presence pulse", "sensor lost")
    b = res["back"]
    assert b["t_" + FLOW_ROM][:2] == [40.0, "ok"]  # found again, power-on 85.0 rejected, resolution set again
    assert res["back_bits"] == 10
    assert b["t_" + OUTSIDE_ROM][1] == "bus stuck low"  # the rescan names the bus fault
    assert any("lost" in line for line in res["log"]) and any("found" in line for line in res["log"])


def test_meter_temperatures_keep_ds18b20_roles_off_their_channels():
    sc = {"temperatures": {FLOW_ROM: 40.0}, "onewire_buses": {FLOW_ROM: 4}}
    res = _run(r'''
async def main():
    ctx = make({"interval_s": 1, "heat": {"temperatures": "meter"},
                "onewire": {"roles": {"%s": "heatpump_flowT"}}})
    from firmware.services.temperatures import TemperatureService
    task = asyncio.create_task(TemperatureService(ctx).run())
    await asyncio.sleep_ms(2000)
    task.cancel()
    result(snap(ctx.store))
''' % FLOW_ROM, sc)
    assert res["t_" + FLOW_ROM][0] == 40.0
    assert "heatpump_flowT" not in res  # the M-Bus meter owns it


def test_ds18b20_read_retries_a_corrupted_scratchpad():
    sc = {"temperatures": {FLOW_ROM: 21.5}, "onewire_buses": {FLOW_ROM: 4}}
    res = _run(r'''
from firmware.board import Board
from firmware.drivers.ds18b20 import DS18B20Bus

class Flaky:
    """The frozen ds18x20 driver, with the first `bad` scratchpad reads hit by noise."""
    def __init__(self, sensor, bad):
        self.sensor = sensor
        self.buf = sensor.buf
        self.bad = bad
        self.calls = 0
    def __getattr__(self, name):
        return getattr(self.sensor, name)
    def read_scratch(self, rom):
        self.calls += 1
        buf = self.sensor.read_scratch(rom)
        if self.calls <= self.bad:
            buf[3] ^= 0x10
            raise Exception("CRC error")
        return buf

async def main():
    out = []
    for retries, bad in ((2, 2), (1, 2), (0, 1)):
        gpio, ow = Board({"onewire": [4]}).onewire_buses()[0]
        bus = DS18B20Bus(gpio, ow, 12, retries)
        bus.scan()
        bus.sensor = Flaky(bus.sensor, bad)
        bus.start_conversion()
        await asyncio.sleep_ms(bus.conversion_ms())
        name, value, status = bus.read()[0]
        out.append([value, status, bus.sensor.calls])
    result(out)
''', sc)
    assert res[0] == [21.5, "ok", 3]   # two corrupted reads, the third is good
    assert res[1] == [None, "crc", 2]  # one retry is not enough
    assert res[2] == [None, "crc", 1]  # no retries
