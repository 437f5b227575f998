"""HA discovery payloads checked against Home Assistant's documented rules
(home-assistant.io mqtt.markdown, developers docs core/entity/sensor.md, and the
Energy dashboard validation in homeassistant/components/energy/validate.py)."""
import json

from firmware import ha_discovery, topics

# units HA accepts per sensor device class (SensorDeviceClass docs)
HA_UNITS = {
    "energy": ("J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"),
    "power": ("mW", "W", "kW", "MW", "GW", "TW", "BTU/h"),
    "temperature": ("°C", "°F", "K"),
    "voltage": ("µV", "mV", "V", "kV", "MV"),
    "current": ("mA", "A"),
    "frequency": ("Hz", "kHz", "MHz", "GHz"),
    "apparent_power": ("VA", "kVA"),
    "reactive_power": ("var", "kvar"),
    "volume_flow_rate": ("m³/h", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/min", "mL/s"),
    "volume": ("L", "mL", "gal", "fl. oz.", "m³", "ft³", "CCF"),
    "power_factor": (None, "%"),
    "signal_strength": ("dB", "dBm"),
}
# state classes HA allows per device class (energy/volume are counters: no "measurement")
HA_STATE_CLASSES = {
    "energy": ("total", "total_increasing"),
    "volume": ("total", "total_increasing"),
}
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


def _ids_ok(text):
    return len(text) > 0 and all(c in ID_CHARS for c in text)


def check_entity(topic, payload, node, component):
    """Every documented rule the payload must pass; returns the parsed config."""
    doc = json.loads(payload)
    parts = topic.split("/")
    assert len(parts) == 4 and parts[0] == "homeassistant" and parts[3] == "config", topic
    assert parts[1] == component
    assert _ids_ok(parts[2]) and parts[2] == doc["unique_id"], "object id = unique_id (HA best practice)"
    assert _ids_ok(doc["unique_id"])
    assert doc["availability_topic"] == "hpmon/%s/status" % node
    assert doc["payload_available"] == "online" and doc["payload_not_available"] == "offline"
    dev = doc["device"]
    assert dev["identifiers"] and all(_ids_ok(i) for i in dev["identifiers"])
    for key in ("manufacturer", "model", "sw_version", "name", "configuration_url"):
        assert dev.get(key), key
    assert dev["configuration_url"].startswith("http://")
    assert doc["origin"]["name"] and doc["origin"]["sw_version"]
    assert doc.get("name")
    if component in ("sensor", "switch"):
        assert doc["state_topic"] == "hpmon/%s/state" % node
        assert "value_json" in doc["value_template"]
    if component in ("switch", "button"):
        assert doc["command_topic"].startswith("hpmon/%s/set/" % node)
    dc = doc.get("device_class")
    if component == "sensor" and dc is not None:
        assert dc in HA_UNITS, dc
        assert doc.get("unit_of_measurement") in HA_UNITS[dc], (dc, doc.get("unit_of_measurement"))
        sc = doc.get("state_class")
        assert sc in HA_STATE_CLASSES.get(dc, ("measurement",)), (dc, sc)
    if "state_class" in doc:
        assert doc["state_class"] in ("measurement", "total", "total_increasing")
    return doc


def energy_dashboard_ok(doc):
    """homeassistant/components/energy/validate.py: energy device class, an energy
    unit, and a state class; measurement would also need last_reset."""
    return (doc.get("device_class") == "energy" and doc.get("unit_of_measurement") in HA_UNITS["energy"]
            and (doc.get("state_class") in ("total", "total_increasing")
                 or (doc.get("state_class") == "measurement" and "last_reset_value_template" in doc)))


def _disc():
    return ha_discovery.Discovery("homeassistant", "hpmon", "hpmon_a1b2c3", "0.1.0", "ESP32 heat-pump monitor",
                                  "http://192.168.1.20/", "24:0a:c4:a1:b2:c3")


CHANNELS = (("heatpump_elec", "W"), ("heatpump_elec_kwh", "kWh"), ("heatpump_heat", "W"),
            ("heatpump_heat_kwh", "kWh"), ("heatpump_flowT", "°C"), ("heatpump_returnT", "°C"),
            ("heatpump_outsideT", "°C"), ("heatpump_flowrate", "L/min"), ("heatpump_cop", ""),
            ("t_28ff641e821603e2", "°C"), ("mbus_1_energy", "Wh"), ("ct1_pf", ""), ("vrms", "V"),
            ("heatpump_deltaT", "K"), ("mbus_1_volume", "m³"), ("odd.name", "furlongs"))


def test_every_sensor_passes_the_ha_rules():
    disc = _disc()
    seen = set()
    for key, unit in CHANNELS:
        topic, payload = disc.sensor(key, unit)
        doc = check_entity(topic, payload, "hpmon", "sensor")
        assert doc["unique_id"] not in seen
        seen.add(doc["unique_id"])


def test_energy_counters_pass_the_energy_dashboard_rules():
    disc = _disc()
    for key in ("heatpump_elec_kwh", "heatpump_heat_kwh", "mbus_1_energy"):
        unit = "Wh" if key == "mbus_1_energy" else "kWh"
        doc = json.loads(disc.sensor(key, unit)[1])
        assert energy_dashboard_ok(doc), doc
        assert doc["state_class"] == "total_increasing"
    power = json.loads(disc.sensor("heatpump_elec", "W")[1])
    assert power["device_class"] == "power" and power["state_class"] == "measurement"
    assert not energy_dashboard_ok(power)


def test_a_temperature_difference_is_not_an_absolute_temperature():
    doc = json.loads(_disc().sensor("heatpump_deltaT", "K")[1])
    assert "device_class" not in doc and doc["unit_of_measurement"] == "K"
    cop = json.loads(_disc().sensor("heatpump_cop", "")[1])
    assert "device_class" not in cop and "unit_of_measurement" not in cop
    assert cop["state_class"] == "measurement"


def test_value_template_reads_the_state_payload():
    class Ch:
        def __init__(self, name, value):
            self.name = name
            self.value = value

    state = json.loads(topics.state_payload([Ch("heatpump_elec_kwh", 1234.5), Ch("heatpump_flowT", None)], 1))
    for key, expected in (("heatpump_elec_kwh", 1234.5), ("heatpump_flowT", None)):
        template = json.loads(_disc().sensor(key, "kWh")[1])["value_template"]
        # "{{ value_json['key'] }}": the key, as HA's Jinja would look it up
        inner = template.strip("{} ")
        assert inner.startswith("value_json['") and inner.endswith("']")
        assert state[inner[len("value_json['"):-2]] == expected


def test_switch_and_button():
    disc = _disc()
    doc = check_entity(*disc.switch("ssr"), node="hpmon", component="switch")
    assert doc["command_topic"] == "hpmon/hpmon/set/ssr"
    assert (doc["payload_on"], doc["payload_off"], doc["state_on"], doc["state_off"]) == ("on", "off", "1", "0")
    doc = check_entity(*disc.restart_button(), node="hpmon", component="button")
    assert doc["payload_press"] == "restart" and doc["device_class"] == "restart"


def test_one_device_for_all_entities():
    disc = _disc()
    devices = [json.loads(disc.sensor(k, u)[1])["device"] for k, u in CHANNELS[:4]]
    devices.append(json.loads(disc.switch()[1])["device"])
    assert all(d == devices[0] for d in devices)
    assert devices[0]["connections"] == [["mac", "24:0a:c4:a1:b2:c3"]]


def test_ids_are_sanitised():
    assert ha_discovery.object_id("odd.name/x") == "odd_name_x"
    topic, payload = _disc().sensor("odd.name", "")
    assert topic == "homeassistant/sensor/hpmon_a1b2c3_odd_name/config"


def test_publish_some_sends_retained_and_keeps_what_does_not_fit():
    class Svc:
        ha_prefix = "homeassistant"
        node = "hpmon"

        def __init__(self, room):
            self.room = room
            self.sent = []
            self.disc_queue = [("sensor", "heatpump_flowT", "°C"), ("switch", "ssr", None),
                               ("button", "restart", None)]

        def _publish(self, topic, payload, retain=False):
            if self.room <= 0:
                return False
            self.room -= 1
            self.sent.append((topic, json.loads(payload), retain))
            return True

    svc = Svc(room=1)
    ha_discovery.publish_some(svc, "hpmon_a1b2c3", "http://10.0.0.9/")
    assert [t for t, _p, _r in svc.sent] == ["homeassistant/sensor/hpmon_a1b2c3_heatpump_flowT/config"]
    assert svc.sent[0][2] is True and svc.sent[0][1]["device"]["configuration_url"] == "http://10.0.0.9/"
    assert len(svc.disc_queue) == 2  # no room for the switch: still queued
    svc.room = 5
    ha_discovery.publish_some(svc, "hpmon_a1b2c3", "http://10.0.0.9/")
    assert [t.split("/")[1] for t, _p, _r in svc.sent] == ["sensor", "switch", "button"]
    assert svc.disc_queue == []
