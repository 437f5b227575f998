"""Per-device access-point name and WPA2 password, derived from the chip ID (pure).

The password is printed on the serial console and found with the README's
instructions; it is never the same on two boards, so there is no open AP.
"""
import hashlib

# No 0/O, 1/l/I: the password is read off a console and typed on a phone.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def ap_ssid(chip_id):
    """hpmon-<last 4 hex digits of the MAC/chip ID>."""
    return "hpmon-%02x%02x" % (chip_id[-2], chip_id[-1])


def ap_password(chip_id, length=12):
    digest = hashlib.sha256(b"hpmon-ap-v1:" + bytes(chip_id)).digest()
    return "".join(_ALPHABET[b % 32] for b in digest[:length])
