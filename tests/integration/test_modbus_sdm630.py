"""A three-phase Eastron SDM630 on the emulated board's RS485 port: the system totals as for an
SDM120, and each line's voltage, current, power, VA and PF as modbus_l<n>_* channels, in
/api/state, on MQTT and in Home Assistant discovery. The per-line truth differs on purpose
(an unbalanced load), so a line read from the wrong registers cannot pass."""
import json
import os
import tempfile

import pytest

from tests.helpers import Broker, Subscriber, console, get_json, start_board, wait_until, write_scenario
from tests.pure.test_ha_discovery import check_entity
from tools import paths

PHASES = [{"voltage_v": 236.0, "current_a": 4.4, "power_w": 1000.0, "va": 1038.4, "pf": 0.963},
          {"voltage_v": 239.5, "current_a": 2.1, "power_w": 450.0, "va": 503.0, "pf": 0.895},
          {"voltage_v": 241.0, "current_a": 7.3, "power_w": 1700.0, "va": 1759.3, "pf": 0.966}]


@pytest.fixture(scope="module")
def sdm630():
    tmp = tempfile.mkdtemp(prefix="sdm630-")
    with open(os.path.join(paths.ROOT, "scenarios", "elec-modbus.json")) as f:
        base = json.load(f)
    meter = dict(base["modbus_meter"], model="sdm630", power_w=3150.0, phases=PHASES)
    config = dict(base["config"], interval_s=5, modbus=dict(base["config"]["modbus"], model="sdm630"))
    scen = write_scenario(os.path.join(tmp, "sdm630.json"), os.path.join(paths.ROOT, "scenarios", "elec-modbus.json"),
                          modbus_meter=meter, config=config, timeline=[], faults=[])
    broker = Broker()
    board = start_board(scen, broker_port=broker.port)
    sub = Subscriber(broker.port, "emon/#", "homeassistant/#")
    try:
        def ready():
            ch = get_json(board.http_port)["channels"]
            return all(ch.get("modbus_l%d_power" % n, {}).get("value") is not None for n in (1, 2, 3))
        assert wait_until(ready, timeout=40), console(board)[-3000:]
        names = ["emon/hpmon/modbus_l%d_%s" % (n, x) for n in (1, 2, 3) for x in ("power", "voltage", "pf")]
        assert wait_until(lambda: all(sub.values(t) for t in names), timeout=20), \
            ([t for t in names if not sub.values(t)], console(board)[-3000:])
        yield {"board": board, "sub": sub, "state": get_json(board.http_port)}
    finally:
        sub.stop()
        board.stop()
        broker.stop()


def test_each_line_reads_its_own_registers(sdm630):
    ch = sdm630["state"]["channels"]
    for n, truth in enumerate(PHASES, 1):
        for key, suffix, unit in (("voltage_v", "voltage", "V"), ("current_a", "current", "A"),
                                  ("power_w", "power", "W"), ("va", "va", "VA"), ("pf", "pf", "")):
            got = ch["modbus_l%d_%s" % (n, suffix)]
            assert got["status"] == "ok" and got["unit"] == unit, (n, suffix, got)
            assert abs(got["value"] - truth[key]) < 1e-3 * abs(truth[key]), (n, suffix, got, truth[key])
    # the system totals come from their own registers, not a sum made here
    assert abs(ch["modbus_power"]["value"] - 3150.0) < 0.01
    assert ch["heatpump_elec"]["value"] == ch["modbus_power"]["value"]


def test_lines_reach_mqtt_and_home_assistant(sdm630):
    sub = sdm630["sub"]
    for n, truth in enumerate(PHASES, 1):
        vals = sub.values("emon/hpmon/modbus_l%d_power" % n)
        assert vals and abs(float(vals[-1]) - truth["power_w"]) < 0.5, (n, vals)
    def configs():
        with sub.lock:
            return [(t, p) for t, p, _r, _ts in sub.messages if t.endswith("modbus_l2_voltage/config")]
    assert wait_until(configs, timeout=20)
    for topic, payload in configs():
        if topic.endswith("modbus_l2_voltage/config"):
            doc = check_entity(topic, payload, "hpmon", "sensor")
            assert doc["device_class"] == "voltage" and doc["unit_of_measurement"] == "V", doc

