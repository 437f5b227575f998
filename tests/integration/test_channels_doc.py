"""docs/channels.md stays true.

Every channel the emulated board publishes with every driver on (scenarios/all-drivers.json) must
match a name or pattern in a table of the doc whose first column is "channel", with the unit the
doc gives; and every name the doc gives must still be in firmware/, so a renamed channel fails here.
Inputs that all-drivers.json lacks (IrDA, an SDM630, emonTH roles) are covered by the source check.
"""
import glob
import os
import re

from tests.helpers import console, start_board, wait_state
from tools import paths

DOC = os.path.join(paths.ROOT, "docs", "channels.md")
SCENARIO = os.path.join(paths.ROOT, "scenarios", "all-drivers.json")

# The doc's placeholders. <meter> here covers the unnamed meters of the scenarios
# (mbus_<address>, mbus_<secondary id>); a configured name would match anything.
PLACEHOLDERS = {"<n>": "[0-9]+", "<rom>": "[0-9a-f]{16}", "<meter>": "mbus_[0-9]+"}

# One channel per service of all-drivers.json: once all are there, every service has reported
# once, and each creates all of its channels on its first report.
FIRST = ("ct1_power", "vrms", "pulse_power", "modbus_power", "mbus_1_power", "vfs_heat",
         "heat_source_diff_pct", "t_28ff641e821603e2", "heatpump_roomT", "emonth23_temp",
         "heatpump_cop", "ssr")


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def documented(text):
    """[(name or pattern, unit)] from every table whose header starts with "channel"."""
    rows = []
    lines = text.splitlines()
    unit_col = None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            unit_col = None
            continue
        cells = _cells(line)
        if i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1].strip()):  # a header
            unit_col = cells.index("unit") if cells[0] == "channel" and "unit" in cells else None
            continue
        if unit_col is None or set(line) <= set("|:- "):
            continue
        unit = cells[unit_col]
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows.append((name, "" if unit == "—" else unit))
    return rows


def to_regex(name):
    out = ""
    for part in re.split(r"(<[^>]*>)", name):
        if part.startswith("<"):
            assert part in PLACEHOLDERS, "docs/channels.md: placeholder %s has no regex in this test" % part
            out += "(?:%s)" % PLACEHOLDERS[part]
        else:
            out += re.escape(part)
    return re.compile(out + r"\Z")


def _doc_rows():
    with open(DOC, encoding="utf-8") as f:
        return documented(f.read())


def _lookup(rows):
    """channel name -> documented unit, or None if undocumented."""
    compiled = [(to_regex(name), unit) for name, unit in rows]

    def unit_of(channel):
        for rx, unit in compiled:
            if rx.match(channel):
                return unit
        return None
    return unit_of


def _firmware_source():
    texts = []
    for path in sorted(glob.glob(os.path.join(paths.ROOT, "firmware", "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    return "\n".join(texts)


def test_doc_tables_parse():
    rows = _doc_rows()
    names = [name for name, _unit in rows]
    assert len(rows) >= 90, rows  # every group's table was read
    for must in ("heatpump_elec", "heatpump_elec_kwh", "ct<n>_power", "t_<rom>", "<meter>_energy_wh",
                 "modbus_l<n>_power", "emonth<n>_rssi", "irda_wh", "heatpump_cop", "ssr"):
        assert must in names
    units = {}
    for name, unit in rows:  # a name listed twice has one unit
        assert units.setdefault(name, unit) == unit, name
    unit_of = _lookup(rows)
    # the matcher can fail: near misses are not documented
    for wrong in ("ct1_powr", "t_28ff", "t_28FF641E821603E2", "mbus_1_power2", "modbus_l1_freq", "heatpump_cops"):
        assert unit_of(wrong) is None, wrong
    assert unit_of("ct3_export_wh") == "Wh"
    assert unit_of("mbus_12345678_flowrate") == "L/min"


def test_documented_names_are_in_firmware():
    """A literal name appears quoted in firmware/; each fixed part of a pattern appears there."""
    src = _firmware_source()
    missing = []
    for name, _unit in _doc_rows():
        if "<" not in name:
            if '"%s"' % name not in src and "'%s'" % name not in src:
                missing.append(name)
            continue
        for part in re.split(r"<[^>]*>", name):
            part = part.strip("_")
            if part and part not in src:
                missing.append("%s (%s)" % (name, part))
    assert not missing, "documented in docs/channels.md but not in firmware/: %s" % missing


def test_every_published_channel_is_documented(broker):
    unit_of = _lookup(_doc_rows())
    board = start_board(SCENARIO, broker_port=broker.port, heap="2M")
    try:
        state = wait_state(board.http_port, lambda s: all(n in s["channels"] for n in FIRST), timeout=90)
        channels = state["channels"]
        assert len(channels) > 90, sorted(channels)
        undocumented = sorted(n for n in channels if unit_of(n) is None)
        assert not undocumented, "published but not in docs/channels.md: %s" % undocumented
        wrong_unit = sorted("%s: %r, doc %r" % (n, ch["unit"], unit_of(n))
                            for n, ch in channels.items() if ch["unit"] != unit_of(n))
        assert not wrong_unit, "units differ from docs/channels.md: %s" % wrong_unit
        assert "Traceback" not in console(board)
    finally:
        board.stop()
