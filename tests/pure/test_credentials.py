import os

from firmware import credentials


class Nvs:
    """esp32.NVS as the ESP32 port behaves: missing key -> OSError, blobs pending until commit()."""

    def __init__(self, full=False):
        self.data = {}
        self.pending = {}
        self.full = full

    def get_blob(self, key, buf):
        if key not in self.data:
            raise OSError(-4354, "ESP_ERR_NVS_NOT_FOUND")
        value = self.data[key]
        if len(buf) < len(value):
            raise OSError(-4364, "ESP_ERR_NVS_INVALID_LENGTH")
        buf[:len(value)] = value
        return len(value)

    def set_blob(self, key, value):
        self.pending[key] = bytes(value)

    def commit(self):
        if self.full:
            raise OSError(-4352, "ESP_ERR_NVS_NOT_ENOUGH_SPACE")
        self.data.update(self.pending)
        self.pending = {}


def test_ssid_uses_last_two_bytes():
    assert credentials.ap_ssid(b"\x24\x0a\xc4\xa1\xb2\xc3") == "hpmon-b2c3"


def test_password_is_wpa2_length_readable_and_from_the_secret():
    a = credentials.ap_password(bytes(range(16)))
    assert 8 <= len(a) <= 63 and len(a) == 12
    assert a == credentials.ap_password(bytearray(range(16)))
    assert a != credentials.ap_password(bytes(range(1, 17)))
    for ch in credentials.ap_password(bytes(range(256))[:200], length=200):
        assert ch not in "0O1lI"


def test_the_secret_is_made_once_and_kept():
    nvs = Nvs()
    first = credentials.ap_secret(nvs, os.urandom)
    assert len(first) == credentials.SECRET_BYTES and nvs.data[credentials.NVS_KEY] == first
    assert credentials.ap_secret(nvs, lambda n: b"\x00" * n) == first  # not made again
    assert credentials.ap_secret(Nvs(), os.urandom) != first  # another board: another secret


def test_full_nvs_still_gives_a_password_for_this_boot():
    nvs = Nvs(full=True)
    secret = credentials.ap_secret(nvs, lambda n: bytes(range(n)))
    assert secret == bytes(range(16)) and credentials.NVS_KEY not in nvs.data


def test_a_short_stored_secret_is_replaced():
    for stored in (b"", b"\x01\x02"):
        nvs = Nvs()
        nvs.data[credentials.NVS_KEY] = stored
        secret = credentials.ap_secret(nvs, lambda n: b"\x07" * n)
        assert secret == b"\x07" * 16 and nvs.data[credentials.NVS_KEY] == secret
