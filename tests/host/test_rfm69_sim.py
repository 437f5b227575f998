"""The simulated RFM69 (tools/emulator/sim/sim_rfm69.py) and the firmware's RFM69 driver.

CPython part: the simulator's own packet codes (written apart from firmware/rf_packets.py)
against the firmware codecs and known check values. MicroPython part: the real driver
(firmware/drivers/rfm69.py) on the simulated SPI bus, woken only by the IRQ pin, for
each of the three OEM formats, with corrupt packets and a node of another format.
"""
import json
import os
import sys

import pytest

from firmware import rf_packets as rp
from tests.host.upy import run_upy
from tools import paths

SIM = os.path.join(paths.ROOT, "tools", "emulator", "sim")
if SIM not in sys.path:
    sys.path.insert(0, SIM)

import sim_rfm69 as sr  # noqa: E402

KEY = "89txbe4p8aik5kt3"


def test_sim_crcs_check_values():
    assert sr.crc_rf12(b"123456789") == 0x4B37
    # CRC-16/AUG-CCITT (0x1021, init 0x1D0F) of "123456789" is 0xE5CC; the SX1231 inverts it
    assert sr.crc_ccitt(b"123456789") == 0xE5CC ^ 0xFFFF


def test_pn9_whitening_sequence_and_involution():
    # PN9 (x^9 + x^5 + 1, all ones): FF E1 1D 9A ED 85 33 24 (TI DN509 / SX1231 whitening)
    assert bytes(sr.pn9(8)) == bytes.fromhex("ffe11d9aed853324")
    data = bytes(range(40))
    assert bytes(sr.whiten(sr.whiten(data))) == data


def test_parity_matches_firmware():
    for g in range(256):
        assert sr.parity_bits(g) == rp.group_parity(g)


def test_emonth_payload_matches_firmware_encoder():
    assert sr.emonth_payload(20.5, -3.5, 52.3, 2.9, 17) == rp.encode_emonth(20.5, -3.5, 52.3, 2.9, 17)
    assert sr.emonth_payload(1.0, 2.0, 3.0, 4.0) == rp.encode_emonth(1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize("fmt", rp.FORMATS)
def test_air_bytes_received_by_a_base_decode_with_the_firmware_codec(fmt):
    payload = sr.emonth_payload(21.0, 5.5, 48.0, 3.1, 99)
    key = KEY.encode() if fmt == "lpl" else b""
    air = sr.air_bytes(fmt, 23, payload, 210, 5 if fmt == "lpl" else 0, key)
    phy = {"khz": sr.base_config(fmt, 210)["khz"], "bitrate": sr.PHY[fmt]["bitrate"], "rssi": -70,
           "sync": bytes((0x2D, 210))}
    fifo, crc_ok = sr.receive(sr.base_config(fmt, 210, 433, KEY), air, phy, bytes(80))
    assert crc_ok
    src, _dest, got = rp.parse(fmt, fifo, 210)
    assert src == 23 and got == payload
    assert rp.decode_emonth(got) == (21.0, 5.5, 48.0, 3.1, 99)
    # the firmware's own frames go through the same air as the nodes'
    assert sr.parse_frame(fmt, rp.frame(fmt, 7, b"\x01\x02", 210, 5) + bytes(70), 210)[2] == b"\x01\x02"


def test_lpl_aes_matches_an_independent_aes():
    from Crypto.Cipher import AES
    payload = bytes(range(12))
    air = sr.air_bytes("lpl", 23, payload, 210, 5, KEY.encode())
    msg = bytes((15, 5, 23, 0)) + payload
    body = msg[1:] + bytes(16 - len(msg[1:]))
    assert air[0] == 15
    assert air[1:17] == AES.new(KEY.encode(), AES.MODE_ECB).encrypt(body)
    crc = sr.crc_ccitt(air[:17])
    assert air[17:19] == bytes((crc >> 8, crc & 0xFF))


def test_receiver_rejections():
    payload = b"\x00" * 12
    base = sr.base_config("lpl", 210, 433, "")
    phy = {"khz": 433000, "bitrate": 0x0240, "rssi": -70, "sync": bytes((0x2D, 210))}
    air = sr.air_bytes("lpl", 23, payload, 210, 5)
    assert sr.receive(base, air, dict(phy, khz=434000), b"") == "frequency"
    assert sr.receive(base, air, dict(phy, bitrate=0x028A), b"") == "bit rate"
    assert sr.receive(base, air, dict(phy, rssi=-115), b"") == "below RSSI threshold"
    assert sr.receive(base, air, dict(phy, sync=bytes((0x2D, 211))), b"") == "sync word"
    bad = sr.air_bytes("lpl", 23, payload, 210, 5, b"", flip_bit=40)
    fifo, crc_ok = sr.receive(base, bad, phy, bytes(80))
    assert not crc_ok  # CrcAutoClearOff: delivered, flagged
    base_drop = dict(base, pc1=0x90)
    assert sr.receive(base_drop, bad, phy, bytes(80)).startswith("crc")
    # a classic frame read by an LPL receiver at the classic bit rate: not a valid LPL frame
    classic = sr.air_bytes("jeelib", 23, payload, 210)
    got = sr.receive(dict(base, bitrate=0x028A), classic, dict(phy, bitrate=0x028A), bytes(80))
    assert isinstance(got, str) or not got[1]


# ---------------------------------------------------------------- the driver under MicroPython

DRIVER = r"""
import asyncio, json, time
from firmware import config, rf_packets as rp
from firmware.board import Board
from firmware.drivers.rfm69 import RFM69
FMT = "%(fmt)s"
pins = config.defaults()["pins"]
spi, cs, irq = Board(pins).rfm69_bus()
r = RFM69(spi, cs, irq, FMT, 433, 210, "%(key)s")
r.init()
out = {"frames": [], "timeouts": 0}
async def main():
    t0 = time.ticks_ms()
    while len(out["frames"]) < %(n)d and time.ticks_diff(time.ticks_ms(), t0) < 9000:
        try:
            await asyncio.wait_for_ms(r.flag.wait(), 2500)
        except asyncio.TimeoutError:
            out["timeouts"] += 1
            continue
        got = r.receive()
        if got:
            out["frames"].append([got[0].hex(), got[1], got[2], time.ticks_diff(time.ticks_ms(), t0)])
    payload = rp.encode_tx({"msg": 3, "heatpump_elec": 1200, "heatpump_flowT": 35.5})
    out["sent"] = await r.send(rp.frame(FMT, 7, payload, 210, 5 if FMT == "lpl" else 0))
    out["after_send"] = r.read_reg(0x01)
asyncio.run(main())
print("RESULT " + json.dumps(out))
"""


def _scenario(fmt, other):
    key = KEY if fmt == "lpl" else ""
    return {"radio": {"base": {"format": fmt, "group": 210, "key": key},
                      "nodes": [
                          {"node": 23, "format": fmt, "every_s": 0.7, "offset_s": 0.4, "temp_c": 21.5,
                           "temp_ext_c": -2.5, "humidity_pct": 55.5, "battery_v": 3.0, "pulses": 42,
                           "rssi_dbm": -66, "corrupt_every": 3, "key": key},
                          {"node": 25, "format": other, "every_s": 0.7, "offset_s": 0.05, "temp_c": 99.0}]}}


@pytest.mark.parametrize("fmt,other", [("lpl", "native"), ("native", "jeelib"), ("jeelib", "lpl")])
def test_driver_receives_via_irq_rejects_corrupt_and_transmits(fmt, other):
    n = 6
    code = DRIVER % {"fmt": fmt, "key": KEY if fmt == "lpl" else "", "n": n}
    result = run_upy(code, scenario=_scenario(fmt, other), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    # woken by DIO0 through the soft IRQ every time: the task never waited out its timeout
    assert out["timeouts"] == 0, out
    assert len(out["frames"]) == n
    good = bad = 0
    for hexframe, rssi, crc_ok, _t in out["frames"]:
        frame = bytes.fromhex(hexframe)
        try:
            if not crc_ok:
                raise rp.RFPacketError("crc")
            src, _dest, payload = rp.parse(fmt, frame, 210)
        except rp.RFPacketError:
            bad += 1
            continue
        good += 1
        assert src == 23
        assert rp.decode_emonth(payload) == (21.5, -2.5, 55.5, 3.0, 42)
        assert rssi == -66
    with open(os.path.join(result.work, "rf_air.jsonl")) as f:
        air = [json.loads(line) for line in f]
    ours = [a for a in air if a["node"] == 23 and a["result"].startswith("received")]
    assert bad == sum(1 for a in ours[:n] if a["corrupt"]) and bad >= 1 and good >= 3
    # the node in the other format is never heard
    assert all(not a["result"].startswith("received") for a in air if a["node"] == 25)
    # what the driver sent, as the base station decoded it
    assert out["sent"] is True and out["after_send"] & 0x1C == 0x10  # back in Rx
    with open(os.path.join(result.work, "rf_tx.jsonl")) as f:
        tx = [json.loads(line) for line in f]
    assert len(tx) == 1 and tx[0]["ok"], tx
    assert tx[0]["src"] == 7
    decoded = rp.decode_tx(bytes.fromhex(tx[0]["payload"]))
    assert decoded["msg"] == 3 and decoded["heatpump_elec"] == 1200 and decoded["heatpump_flowT"] == 35.5
    assert decoded["heatpump_roomT"] is None


def test_lpl_wrong_key_is_garbage_with_a_good_crc():
    code = DRIVER % {"fmt": "lpl", "key": "0123456789abcdef", "n": 2}
    scen = _scenario("lpl", "native")
    scen["radio"]["nodes"][0]["corrupt_every"] = 0
    result = run_upy(code, scenario=scen, timeout=60)
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert len(out["frames"]) == 2
    for hexframe, _rssi, crc_ok, _t in out["frames"]:
        assert crc_ok
        src, _dest, payload = rp.parse("lpl", bytes.fromhex(hexframe), 210)
        assert payload != rp.encode_emonth(21.5, -2.5, 55.5, 3.0, 42)
    # and the base (right key) could not decode the driver's packet either
    with open(os.path.join(result.work, "rf_tx.jsonl")) as f:
        tx = json.loads(f.readline())
    expected = rp.encode_tx({"msg": 3, "heatpump_elec": 1200, "heatpump_flowT": 35.5}).hex()
    assert not (tx.get("src") == 7 and tx.get("payload") == expected)


def test_missing_module_is_reported():
    code = ("from firmware import config\nfrom firmware.board import Board\n"
            "from firmware.drivers.rfm69 import RFM69, RadioError\n"
            "spi, cs, irq = Board(config.defaults()['pins']).rfm69_bus()\n"
            "try:\n    RFM69(spi, cs, irq).init()\n    print('NO ERROR')\n"
            "except RadioError as e:\n    print('ERROR', e)\n")
    absent = run_upy(code, scenario={"radio": {"nodes": []}, "faults": [{"kind": "rfm69_absent"}]})
    assert "ERROR no RFM69" in absent.stdout, absent.stdout + absent.stderr
    none = run_upy(code, scenario={})
    assert "ERROR no RFM69 on SPI (RegVersion 0xff" in none.stdout, none.stdout + none.stderr
    ok = run_upy(code, scenario={"radio": {"nodes": []}})
    assert "NO ERROR" in ok.stdout, ok.stdout + ok.stderr
