"""The emonhub/EmonESP serial line (firmware/services/serial_out.py pure helpers)."""
from firmware.services import serial_out as so


class Ch:
    def __init__(self, name, value):
        self.name = name
        self.value = value


def _line(channels, msg=None, size=so.CHUNK):
    return "".join(so.chunks(channels, msg, size))


def test_line_is_key_value_pairs_ending_crlf():
    chans = [Ch("heatpump_elec", 1450), Ch("heatpump_flowT", 38.25), Ch("emonth23_temp", 20.5)]
    assert _line(chans, 7) == "MSG:7,heatpump_elec:1450,heatpump_flowT:38.25,emonth23_temp:20.5\r\n"
    assert _line(chans) == "heatpump_elec:1450,heatpump_flowT:38.25,emonth23_temp:20.5\r\n"


def test_unknown_values_and_bad_names_are_left_out():
    chans = [Ch("a", None), Ch("b.c", 1.0), Ch("d e", 2), Ch("ok-1", float("nan")), Ch("x_Y-9", -0.0004),
             Ch("big", 1e12)]
    line = _line(chans)
    assert line == "x_Y-9:0,big:1000000000000\r\n"
    assert _line([]) == "\r\n"
    assert _line([], 3) == "MSG:3\r\n"


def test_emonhub_parses_every_pair_as_a_number():
    # emonhub's OEM interfacer: split on ',', then ':', name ^[\w-]+$, float(value)
    chans = [Ch("t_28ff641e821603e2", 29.25), Ch("heatpump_outsideT", -4.5), Ch("ct1_wh", 123456),
             Ch("heatpump_cop", 3.14159)]
    line = _line(chans, 12)
    assert line.endswith("\r\n")
    parsed = {}
    for pair in line[:-2].split(","):
        name, value = pair.split(":")
        assert so.serial_name(name)
        parsed[name] = float(value)
    assert parsed == {"MSG": 12.0, "t_28ff641e821603e2": 29.25, "heatpump_outsideT": -4.5,
                      "ct1_wh": 123456.0, "heatpump_cop": 3.142}


def test_chunks_reassemble_the_same_line():
    chans = [Ch("channel_%02d" % i, i * 1.5) for i in range(40)]
    whole = _line(chans, 1, size=100000)
    pieces = list(so.chunks(chans, 1, 50))
    assert len(pieces) > 5
    assert all(len(p) < 50 + 30 for p in pieces)
    assert "".join(pieces) == whole


def test_serial_names():
    assert so.serial_name("heatpump_roomT")
    assert so.serial_name("A-b_9")
    assert not so.serial_name("")
    assert not so.serial_name("a.b")
    assert not so.serial_name("a:b")
    assert not so.serial_name("x" * 65)
    assert not so.serial_name(None)
