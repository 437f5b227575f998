"""Simulated `esp32` module: NVS backed by a file outside the board's flash FS.

Like the real NVS, set_*() changes are pending until commit(); a reset before
commit() loses them. A missing key raises OSError(-4354, ESP_ERR_NVS_NOT_FOUND).
Faults: `flash_full` (commit() fails with ESP_ERR_NVS_NOT_ENOUGH_SPACE) and
`power_cut_nvs` (target: a key; the power fails during the commit that writes it).
"""
import json

import machine
import sim_flash
import simworld

_ESP_ERR_NVS_NOT_FOUND = -4354
_FILE = "nvs.json"
_MAX_KEY = 15  # NVS key names are at most 15 characters


def _load():
    try:
        with open(simworld.state_path(_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class NVS:
    def __init__(self, namespace):
        if not namespace or len(namespace) > _MAX_KEY:
            raise ValueError("invalid namespace")
        self._ns = namespace
        self._pending = {}
        self._order = []  # pending keys in the order they were set (power_cut_nvs)

    def _committed(self):
        return _load().get(self._ns, {})

    def _get(self, key):
        if key in self._pending:
            value = self._pending[key]
        else:
            value = self._committed().get(key)
        if value is None:
            raise OSError(_ESP_ERR_NVS_NOT_FOUND, "ESP_ERR_NVS_NOT_FOUND")
        return value

    def _set(self, key, value):
        if len(key) > _MAX_KEY:
            raise OSError(-4361, "ESP_ERR_NVS_KEY_TOO_LONG")
        machine._check_wdt()
        self._pending[key] = value
        if key in self._order:
            self._order.remove(key)
        self._order.append(key)

    def set_i32(self, key, value):
        if not -0x80000000 <= value <= 0x7FFFFFFF:
            raise OverflowError("overflow converting long int to machine word")
        self._set(key, ["i", int(value)])

    def get_i32(self, key):
        kind, value = self._get(key)
        if kind != "i":
            raise OSError(-4355, "ESP_ERR_NVS_TYPE_MISMATCH")
        return value

    def set_blob(self, key, value):
        self._set(key, ["b", bytes(value).hex()])

    def get_blob(self, key, buffer):
        kind, value = self._get(key)
        if kind != "b":
            raise OSError(-4355, "ESP_ERR_NVS_TYPE_MISMATCH")
        data = bytes.fromhex(value)
        if len(buffer) < len(data):
            raise OSError(-4364, "ESP_ERR_NVS_INVALID_LENGTH")
        buffer[:len(data)] = data
        return len(data)

    def erase_key(self, key):
        self._get(key)
        self._set(key, None)

    def commit(self):
        if simworld.world().fault("flash_full"):
            raise OSError(-4352, "ESP_ERR_NVS_NOT_ENOUGH_SPACE")
        data = _load()
        ns = data.setdefault(self._ns, {})
        cut = self._power_cut()
        for key in self._order:
            if cut is not None and key == cut[1]:
                break  # this entry and the ones after it never reach the flash
            value = self._pending[key]
            if value is None:
                ns.pop(key, None)
            else:
                ns[key] = value
        self._pending = {}
        self._order = []
        _store(data)
        if cut is not None:
            sim_flash.power_off(cut[0], "during the NVS commit of %s/%s" % (self._ns, cut[1]))

    def _power_cut(self):
        """(fault index, key) when a power_cut_nvs fault hits this commit, else None.

        ESP-IDF's NVS writes entry by entry and drops an entry whose write did not complete
        at the next init, so a cut keeps the keys written before the one being written."""
        if not self._order:
            return None
        for key in self._order:
            index = sim_flash.armed("power_cut_nvs", key)
            if index is not None:
                return index, key
        return None


def _store(data):
    tmp = simworld.state_path(_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    import os
    os.rename(tmp, simworld.state_path(_FILE))


def mcu_temperature():
    return 45


def idf_heap_info(capabilities):
    """(total, free, largest free block, least free) per ESP-IDF heap region. A module with PSRAM
    (scenario "board": {"psram": true}) adds the PSRAM's 4 MB region."""
    regions = [(110000, 60000, 50000, 40000)]
    if machine._psram_gpios():
        regions.append((4192156, 120000, 110000, 100000))
    return regions


HEAP_DATA = 4
HEAP_EXEC = 1
