"""Home Assistant MQTT discovery payloads (pure).

One config topic per entity, <prefix>/<component>/<unique_id>/config (HA's best
practice: object id = unique id, no node id), published retained and again when
HA announces itself (`online` on <prefix>/status). Every entity belongs to one
device (identifiers = the chip ID) and uses hpmon/<node>/status for availability.

Classes follow HA's sensor rules: energy counters are device_class energy in
Wh/kWh with state_class total_increasing (so the Energy dashboard accepts them);
power is power/measurement; temperatures temperature/measurement. A channel
whose unit HA would not accept for a class gets no device_class rather than a
wrong one (a ΔT in K must never be read as an absolute temperature).
"""
import json

# unit -> (device_class, state_class) for units that identify the quantity.
# Unit spellings are HA's (homeassistant.const Unit* enums).
_BY_UNIT = {
    "W": ("power", "measurement"),
    "kW": ("power", "measurement"),
    "Wh": ("energy", "total_increasing"),
    "kWh": ("energy", "total_increasing"),
    "MWh": ("energy", "total_increasing"),
    "°C": ("temperature", "measurement"),
    "V": ("voltage", "measurement"),
    "A": ("current", "measurement"),
    "Hz": ("frequency", "measurement"),
    "VA": ("apparent_power", "measurement"),
    "var": ("reactive_power", "measurement"),
    "L/min": ("volume_flow_rate", "measurement"),
    "L/h": ("volume_flow_rate", "measurement"),
    "L/s": ("volume_flow_rate", "measurement"),
    "m³/h": ("volume_flow_rate", "measurement"),
    "m³": ("volume", "total_increasing"),
    "L": ("volume", "total_increasing"),
    "dBm": ("signal_strength", "measurement"),
}

# Friendly names of the emoncms "My Heatpump" channels.
_NAMES = {
    "heatpump_elec": "Electric power",
    "heatpump_elec_kwh": "Electric energy",
    "heatpump_heat": "Heat output",
    "heatpump_heat_kwh": "Heat energy",
    "heatpump_flowT": "Flow temperature",
    "heatpump_returnT": "Return temperature",
    "heatpump_outsideT": "Outside temperature",
    "heatpump_roomT": "Room temperature",
    "heatpump_dhwT": "Hot water temperature",
    "heatpump_targetT": "Target temperature",
    "heatpump_flowrate": "Flow rate",
    "heatpump_cop": "COP",
    "heatpump_dhw": "Hot water flag",
    "ssr": "Output",
}

def object_id(text):
    """HA ids allow [a-zA-Z0-9_-] only."""
    out = []
    for ch in text:
        out.append(ch if ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-") else "_")
    return "".join(out)


def classify(name, unit):
    """(device_class or None, state_class or None, unit or None) for a channel."""
    if name.endswith("_pf") or name == "pf":
        return "power_factor", "measurement", None
    if name in ("heatpump_dhw", "ssr"):
        return None, None, None  # 0/1 flags: no statistics
    found = _BY_UNIT.get(unit)
    if found:
        return found[0], found[1], unit
    return None, "measurement", unit or None


def device_block(node, uid, sw_version, model, config_url, mac=None):
    dev = {"identifiers": [uid], "name": node, "manufacturer": "hpmon project",
           "model": model, "sw_version": sw_version}
    if config_url:
        dev["configuration_url"] = config_url
    if mac:
        dev["connections"] = [["mac", mac]]
    return dev


class Discovery:
    """Builds (topic, payload) pairs for one device."""

    def __init__(self, prefix, node, uid, sw_version, model, config_url, mac=None):
        self.prefix = prefix
        self.node = node
        self.uid = object_id(uid)
        self.sw_version = sw_version
        self.device = device_block(node, self.uid, sw_version, model, config_url, mac)

    def _common(self, key, name):
        return {
            "name": name,
            "unique_id": "%s_%s" % (self.uid, object_id(key)),
            "availability_topic": "hpmon/%s/status" % self.node,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self.device,
            "origin": {"name": "hpmon", "sw_version": self.sw_version},
        }

    def _topic(self, component, unique_id):
        return "%s/%s/%s/config" % (self.prefix, component, unique_id)

    def sensor(self, key, unit):
        """A sensor reading key from the JSON state topic."""
        doc = self._common(key, _NAMES.get(key, key))
        doc["state_topic"] = "hpmon/%s/state" % self.node
        doc["value_template"] = "{{ value_json['%s'] }}" % key
        device_class, state_class, unit = classify(key, unit)
        if device_class:
            doc["device_class"] = device_class
        if state_class:
            doc["state_class"] = state_class
        if unit:
            doc["unit_of_measurement"] = unit
        return self._topic("sensor", doc["unique_id"]), json.dumps(doc)

    def switch(self, key="ssr", command="ssr"):
        """A switch for an output: state from the state topic, commands on set/<command>."""
        doc = self._common(key, _NAMES.get(key, key))
        doc["state_topic"] = "hpmon/%s/state" % self.node
        doc["value_template"] = "{{ value_json['%s'] }}" % key
        doc["state_on"] = "1"
        doc["state_off"] = "0"
        doc["command_topic"] = "hpmon/%s/set/%s" % (self.node, command)
        doc["payload_on"] = "on"
        doc["payload_off"] = "off"
        return self._topic("switch", doc["unique_id"]), json.dumps(doc)

    def restart_button(self):
        doc = self._common("restart", "Restart")
        doc["command_topic"] = "hpmon/%s/set/restart" % self.node
        doc["payload_press"] = "restart"
        doc["device_class"] = "restart"
        doc["entity_category"] = "config"
        return self._topic("button", doc["unique_id"]), json.dumps(doc)


def publish_some(svc, uid, config_url, n=2):
    """Publish (retained) up to n configs queued in svc.disc_queue, an MqttService's
    [(kind, key, unit)]; an item stays queued while the send buffer has no room."""
    from firmware import version
    disc = Discovery(svc.ha_prefix, svc.node, uid, version.VERSION, "ESP32 heat-pump monitor", config_url)
    queue = svc.disc_queue
    for _ in range(n):
        if not queue:
            return
        kind, key, unit = queue[0]
        if kind == "sensor":
            topic, payload = disc.sensor(key, unit)
        elif kind == "switch":
            topic, payload = disc.switch(key)
        else:
            topic, payload = disc.restart_button()
        if not svc._publish(topic, payload, True):
            return
        queue.pop(0)
