from firmware import credentials


def test_ssid_uses_last_two_bytes():
    assert credentials.ap_ssid(b"\x24\x0a\xc4\xa1\xb2\xc3") == "hpmon-b2c3"


def test_password_is_wpa2_length_and_per_device():
    a = credentials.ap_password(b"\x24\x0a\xc4\xa1\xb2\xc3")
    b = credentials.ap_password(b"\x24\x0a\xc4\xa1\xb2\xc4")
    assert 8 <= len(a) <= 63
    assert a != b
    assert a == credentials.ap_password(bytearray(b"\x24\x0a\xc4\xa1\xb2\xc3"))
    for ch in a:
        assert ch not in "0O1lI"
