"""Simulated M-Bus meters (tools/emulator/sim/sim_mbus_meter.py). Runs under pytest and the
unix port. A tiny stand-in world gives the truth; the replies are decoded with the firmware's
codec (written separately from the simulator's frame builder, so each checks the other)."""
import sys

from firmware import mbus_frame as mf
from firmware import mbus_records as mr

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_SIM = _HERE + "/../../tools/emulator/sim"
sys.path.append(_SIM)
try:
    import sim_mbus_meter as sm
finally:
    sys.path.remove(_SIM)


class World:
    """now_ms/get/energy_wh/fault like simworld.World, with fixed values."""

    def __init__(self, values, t_ms=3600000, faults=()):
        self.values = values
        self.t = t_ms
        self.faults = list(faults)
        self.scenario = {"heat_meter": {}}

    def now_ms(self):
        return self.t

    def get(self, path, default=None):
        return self.values.get(path, default)

    def energy_wh(self, path, positive=False):
        # constant values since start: integral = value x hours
        v = self.values.get(path, 0.0)
        return (max(v, 0.0) if positive else v) * self.t / 3600000.0

    def fault(self, kind, target=None):
        for k, tgt in self.faults:
            if k == kind and (tgt is None or tgt == target):
                return True
        return False


TRUTH = {"heat_meter.power_w": 5000.0, "heat_meter.flow_m3h": 0.86,
         "heat_meter.flowT": 38.25, "heat_meter.returnT": 33.0}


def _dev(model="kamstrup_multical_403", world=None, **spec):
    spec["model"] = model
    spec.setdefault("energy_wh_initial", 8123000)
    d = sm.Device(world or World(TRUTH), spec)
    d.configure(2400, 8, 0, 1, 0)
    return d


def _ask(dev, frame):
    reply, delay = dev.write(frame, 0)
    assert (delay > 0) == bool(reply)
    return reply


def _read(dev, a=1, fcb=False):
    reply = _ask(dev, mf.req_ud2(a, fcb))
    f = mf.parse_frame(reply)
    assert f.kind == mf.F_LONG and f.c == 0x08
    return f, mr.decode(f.ci, f.data)


def test_civil_calendar():
    assert sm.civil(0) == (1970, 1, 1, 0, 0)
    assert sm.civil(1735689600) == (2025, 1, 1, 0, 0)
    assert sm.civil(951782400 + 3600 * 13 + 60 * 7) == (2000, 2, 29, 13, 7)
    assert sm.civil(4107542399) == (2100, 2, 28, 23, 59)


def test_ack_only_when_addressed():
    d = _dev(address=7)
    assert _ask(d, mf.snd_nke(7)) == b"\xe5"
    assert d.write(mf.snd_nke(8), 0) == (b"", 0)
    assert d.write(mf.req_ud2(8), 0) == (b"", 0)
    assert d.write(mf.snd_nke(0xFF), 0)[0] == b""     # broadcast without reply
    assert _ask(d, mf.snd_nke(0xFE)) == b"\xe5"       # broadcast with reply


def test_kamstrup_telegram_carries_truth():
    d = _dev(secondary_id=67211183)
    f, (h, recs) = _read(d)
    assert h["id"] == 67211183 and h["manufacturer"] == "KAM" and h["medium"] == 4
    assert not h["more"]
    s = mr.heat_summary(recs)
    # 8123000 Wh + 5000 W for one hour = 8128000 Wh, sent in whole kWh
    assert s["energy_wh"] == 8128000
    assert s["power_w"] == 5000 and abs(s["flow_m3h"] - 0.86) < 1e-9
    assert abs(s["flow_t"] - 38.25) < 1e-9 and abs(s["return_t"] - 33.0) < 1e-9
    assert abs(s["delta_t"] - 5.25) < 1e-9 and abs(s["volume_m3"] - 0.86) < 1e-9


def test_kamstrup_answers_fresh_whatever_the_fcb():
    d = _dev()
    _f, (h1, _r) = _read(d, 1, False)
    _f, (h2, _r) = _read(d, 1, False)
    assert h2["access_no"] == (h1["access_no"] + 1) & 0xFF


def test_kamstrup_layout_matches_seed_offsets():
    # seed firmware (HeatpumpMonitor AutoTemp) reads MC403 values at fixed frame offsets
    d = _dev()
    raw = _ask(d, mf.req_ud2(1))
    le = lambda i, n: sum(raw[i + k] << (8 * k) for k in range(n))  # noqa: E731
    assert le(21, 4) == 8128          # kWh
    assert le(41, 4) == 86            # 0.01 m^3
    assert le(62, 4) == 1             # hours
    assert le(74, 2) == 3825 and le(78, 2) == 3300 and le(82, 2) == 525
    assert le(86, 4) == 50            # 100 W
    assert le(98, 4) == 860           # l/h


def test_kamstrup_energy_record_bytes():
    d = _dev()
    _f, (_h, recs) = _read(d)
    assert recs[0].raw == b"\x04\x06\xc0\x1f\x00\x00"   # 8128 kWh


def test_negative_power_and_temperatures():
    w = World({"heat_meter.power_w": -3000.0, "heat_meter.flow_m3h": 0.5,
               "heat_meter.flowT": -1.5, "heat_meter.returnT": 2.0})
    _f, (_h, recs) = _read(_dev(world=w))
    s = mr.heat_summary(recs)
    assert s["power_w"] == -3000 and abs(s["flow_t"] + 1.5) < 1e-9
    assert abs(s["delta_t"] + 3.5) < 1e-9
    assert s["energy_wh"] == 8123000  # a defrost does not run the heat register back


def test_sontex_pages_and_page_select():
    d = _dev("sontex_supercal_531", address=0x64)
    _f, (h, recs) = _read(d, 0x64)
    assert h["manufacturer"] == "SON" and h["more"]
    assert recs[0].unit == "J" and recs[0].wh() == (8128000 * 36 // 10000) * 10 ** 6 // 3600
    assert _ask(d, mf.sontex_page(0x64, 3)) == b"\xe5"
    raw = _ask(d, mf.req_ud2(0x64, True))
    import struct
    assert struct.unpack("<f", raw[21:25])[0] == 38.25
    assert struct.unpack("<f", raw[27:31])[0] == 33.0
    assert abs(struct.unpack("<f", raw[33:37])[0] - 0.86) < 1e-6
    assert struct.unpack("<f", raw[39:43])[0] == 5000.0
    h, recs = mr.decode(0x72, mf.parse_frame(raw).data)
    assert not h["more"] and recs[0].vtype == mr.T_REAL
    # page 1, then continue with toggled FCB -> page 2 -> page 3 (last, no 1F)
    _ask(d, mf.sontex_page(0x64, 1))
    raw = _ask(d, mf.req_ud2(0x64, True))
    assert raw[38] | raw[39] << 8 == 8128 and raw[16] == 0  # seed: energy @38, status @16
    h, _r = mr.decode(0x72, mf.parse_frame(raw).data)
    assert h["more"]
    _f, (h, recs) = _read(d, 0x64, False)
    assert recs[0].quantity == "Time point (date)" and h["more"]
    _f, (h, recs) = _read(d, 0x64, True)
    assert recs[0].quantity == "Flow temperature" and not h["more"]


def test_multi_telegram_fcb_semantics():
    d = _dev("multi_telegram", address=3)
    assert _ask(d, mf.snd_nke(3)) == b"\xe5"
    seen = []
    fcb = True
    summary = {}
    for _ in range(3):
        f, (h, recs) = _read(d, 3, fcb)
        seen.append(h["access_no"])
        mr.heat_summary(recs, summary)
        if not h["more"]:
            break
        # the same FCB again = repetition: identical frame, same access number
        f2, (h2, _r) = _read(d, 3, fcb)
        assert f2.data == f.data and h2["access_no"] == h["access_no"]
        fcb = not fcb
    assert len(seen) == 3 and len(set(seen)) == 3
    assert summary["energy_wh"] == 8128000          # Wh resolution
    assert summary["power_w"] == 5000 and abs(summary["flow_t"] - 38.2) < 1e-9
    # the same FCB after the last telegram repeats it; a toggled one starts a new cycle
    _f, (h, recs) = _read(d, 3, fcb)
    assert recs[0].quantity == "Time point (date & time)" and not h["more"]
    fcb = not fcb
    _f, (h, recs) = _read(d, 3, fcb)
    assert recs[0].quantity == "Fabrication No" and h["more"]
    # SND_NKE restarts the sequence too
    _read(d, 3, not fcb)
    _ask(d, mf.snd_nke(3))
    _f, (_h, recs) = _read(d, 3, True)
    assert recs[0].quantity == "Fabrication No"


def test_secondary_selection():
    a = _dev(address=1, secondary_id=12345678)
    b = _dev(address=2, secondary_id=12349999)
    bus = (a, b)

    def ask_all(frame):
        return [dev.write(frame, 0)[0] for dev in bus]

    assert ask_all(mf.select_secondary("1234FFFF")) == [b"\xe5", b"\xe5"]   # collision
    assert ask_all(mf.select_secondary(12349999)) == [b"", b"\xe5"]
    replies = ask_all(mf.req_ud2(mf.ADDR_NETWORK))
    assert replies[0] == b"" and mr.decode(0x72, mf.parse_frame(replies[1]).data)[0]["id"] == \
        12349999
    assert ask_all(mf.select_secondary(11111111)) == [b"", b""]
    assert ask_all(mf.req_ud2(mf.ADDR_NETWORK)) == [b"", b""]
    # manufacturer and medium filters
    assert ask_all(mf.select_secondary("FFFFFFFF", man=0x4DEE)) == [b"", b""]   # SON
    assert ask_all(mf.select_secondary("FFFFFFFF", man=0x2C2D, medium=4)) == [b"\xe5", b"\xe5"]


def test_faults_and_wrong_line_settings():
    w = World(TRUTH, faults=[("mbus_silent", None)])
    assert _dev(world=w).write(mf.req_ud2(1), 0) == (b"", 0)
    w = World(TRUTH, faults=[("mbus_checksum", 1)])
    raw = _ask(_dev(world=w), mf.req_ud2(1))
    try:
        mf.parse_frame(raw)
        raise AssertionError("checksum fault not visible")
    except mf.MBusFrameError:
        pass
    w = World(TRUTH, faults=[("mbus_truncated", 2)])
    assert mf.parse_frame(_ask(_dev(world=w), mf.req_ud2(1))).kind == mf.F_LONG  # other target
    raw = _ask(_dev(world=w, address=2), mf.req_ud2(2))
    p = mf.FrameParser()
    assert p.feed(raw) == () and p.pending() == len(raw)
    d = _dev()
    d.configure(9600, 8, 0, 1, 0)
    assert d.write(mf.req_ud2(1), 0) == (b"", 0)
    d.configure(2400, 8, None, 1, 0)
    assert d.write(mf.req_ud2(1), 0) == (b"", 0)
    d.configure(2400, 8, 0, 1, 0)
    assert d.write(mf.req_ud2(1), 0)[0]


def test_requests_split_and_garbage_and_commands():
    d = _dev(address=5)
    req = mf.req_ud2(5)
    assert d.write(b"\x00\x42" + req[:2], 0) == (b"", 0)
    assert mf.parse_frame(d.write(req[2:], 0)[0]).kind == mf.F_LONG
    assert _ask(d, mf.set_primary_address(5, 9)) == b"\xe5"
    assert d.write(mf.snd_nke(5), 0)[0] == b"" and _ask(d, mf.snd_nke(9)) == b"\xe5"
    assert _ask(d, mf.set_baud(9, 9600)) == b"\xe5"
    assert d.write(mf.snd_nke(9), 0)[0] == b""          # still at 2400 on our side
    d.configure(9600, 8, 0, 1, 0)
    assert _ask(d, mf.snd_nke(9)) == b"\xe5"
    assert _ask(d, mf.app_reset(9)) == b"\xe5"
