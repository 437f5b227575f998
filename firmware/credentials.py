"""Per-device access-point name and WPA2 password (pure but for the NVS object passed in).

The password comes from 16 random bytes the board makes once (os.urandom: the ESP32's hardware
RNG) and keeps in NVS, where a firmware update or a new config.json leaves it. It is printed on
the serial console whenever the access point comes up. It is not derived from the chip ID: the
chip ID is public (the AP's BSSID is the base MAC + 1), so a password computed from it would be
known to anyone in radio range.
"""

# No 0/O, 1/l/I: the password is read off a console and typed on a phone. 32 symbols: a random
# byte % 32 is uniform, so 12 characters carry 60 bits.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
NVS_KEY = "ap_secret"
SECRET_BYTES = 16


def ap_ssid(chip_id):
    """hpmon-<last 4 hex digits of the MAC/chip ID>."""
    return "hpmon-%02x%02x" % (chip_id[-2], chip_id[-1])


def ap_password(secret, length=12):
    """The WPA2 passphrase (8-63 characters) made from the board's secret bytes."""
    return "".join(_ALPHABET[b % 32] for b in secret[:length])


def ap_secret(nvs, random_bytes):
    """The board's secret from NVS, made (random_bytes(SECRET_BYTES)) and saved on first use.

    If it cannot be saved (NVS full), the new secret still serves until the next boot, and the
    console shows the password each time."""
    buf = bytearray(SECRET_BYTES)
    try:
        if nvs.get_blob(NVS_KEY, buf) == SECRET_BYTES:
            return bytes(buf)
    except OSError:  # not there yet (ESP_ERR_NVS_NOT_FOUND), or a wrong length
        pass
    secret = bytes(random_bytes(SECRET_BYTES))
    try:
        nvs.set_blob(NVS_KEY, secret)
        nvs.commit()
    except OSError:
        pass
    return secret
