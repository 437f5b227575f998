"""File and NVS work of the analytics service that runs at boot, at midnight or on a hand
correction only: the service imports this module for the moment and drops it again
(firmware/services/analytics.py), so its code does not sit in a WROOM-32's heap all day.

- the daily ring: RING_FILE holds dayfmt.header(RING_DAYS) and RING_DAYS fixed slots of
  dayfmt.SIZE bytes; a day is written in place at dayfmt.slot_offset(). A file of the wrong
  size or header is kept as RING_FILE + ".bad" and a new ring started; a torn slot reads as
  empty (its CRC fails).
- the audit file of hand corrections (one JSON line each, AUDIT_MAX bytes then rotated);
- which energy channels become persistent totals for a configuration (totals_plan).
"""
import os

from firmware import analytics_day as dayfmt

RING_FILE = "analytics_days.bin"
RING_DAYS = 64  # >= 60 days of daily records (issue 5)
AUDIT_FILE = "totals_audit.log"
AUDIT_MAX = 4096  # bytes; the previous file is kept as AUDIT_FILE + ".1"


def totals_plan(cfg):
    """[(channel, kind, since_boot)] of the totals this configuration persists.

    kind "register": the source is a meter's own register (M-Bus heat meter, Modbus import,
    IrDA): the register wins. "counter": a Wh counter the input service integrates from 0 when
    it starts (CT, pulse, VFS heat); since_boot None: not known (analytics_persist.Counter then
    tells a register from a counter by what happens at a reboot). The raw registers
    (mbus_<a>_energy_wh, modbus_import_wh, irda_wh) are the meters' own and stay as they are."""
    from firmware import config as configmod
    get = configmod.get
    plan: list = []
    src = configmod.heat_source(cfg) if "heat" in cfg else "none"
    if src == "mbus":
        plan.append(("heatpump_heat_wh", "register", None))
    elif src == "vfs":
        plan.append(("heatpump_heat_wh", "counter", True))
    if get(cfg, "vfs.enabled"):
        plan.append(("vfs_heat_wh", "counter", True))
        plan.append(("vfs_cool_wh", "counter", True))
    # "auto" resolved the way the input services resolve it (a class-1 meter, else the first CT)
    elec = configmod.elec_source(cfg) if "elec" in cfg and "ct" in cfg else get(cfg, "elec.source", None)
    if elec in ("modbus", "irda"):
        plan.append(("heatpump_elec_wh", "register", None))
    elif isinstance(elec, str) and (elec.startswith("ct") or elec == "pulse"):
        plan.append(("heatpump_elec_wh", "counter", True))
    elif elec is None:  # no electrical section in this configuration
        plan.append(("heatpump_elec_wh", "counter", None))
    if get(cfg, "ct.enabled"):
        export = get(cfg, "ct.export", ())
        for n in get(cfg, "ct.inputs", ()):
            plan.append(("ct%d_wh" % n, "counter", True))
            if 0 < n <= len(export) and export[n - 1]:
                plan.append(("ct%d_export_wh" % n, "counter", True))
    if get(cfg, "pulse.enabled"):
        plan.append(("pulse_wh", "counter", True))
    return plan


def summary(rec):
    """The JSON summary of a daily record (analytics_summary, loaded with this module)."""
    from firmware.analytics_summary import summary as make
    return make(rec)


def _ring_size(n):
    return dayfmt.HEADER_SIZE + n * dayfmt.SIZE


def new_ring(path=RING_FILE, n=RING_DAYS):
    blank = bytes(dayfmt.SIZE)
    with open(path, "wb") as f:
        f.write(dayfmt.header(n))
        for _ in range(n):
            f.write(blank)


def load_ring(engine, log, path=RING_FILE, n=RING_DAYS):
    """Feed every valid record to engine.load_day(). Returns (records, status)."""
    try:
        size = os.stat(path)[6]
    except OSError:
        size = None
    count = 0
    bad = size is not None and size != _ring_size(n)
    if size is not None and not bad:
        try:
            with open(path, "rb") as f:
                bad = f.read(dayfmt.HEADER_SIZE) != dayfmt.header(n)
                buf = bytearray(dayfmt.SIZE)
                for i in range(0 if bad else n):
                    if f.readinto(buf) != dayfmt.SIZE:
                        bad = True
                        break
                    rec = dayfmt.decode(buf)
                    if rec is not None and rec[dayfmt.R_DATE] % n == i:
                        engine.load_day(rec)
                        count += 1
        except OSError:
            bad = True
    status = "ok"
    if bad:
        status = "corrupt file replaced"
        log.error("analytics: %s is corrupt; kept as %s.bad, starting a new ring" % (path, path))
        try:
            os.rename(path, path + ".bad")
        except OSError:
            pass
    if size is None or bad:
        try:
            new_ring(path, n)
        except OSError as exc:
            status = "cannot write: %r" % exc
    return count, status


def write_day(rec, path=RING_FILE, n=RING_DAYS):
    """Write one record into its slot; a missing or unwritable ring is made anew once.
    Returns None on success, else the error text."""
    data = dayfmt.encode(rec)
    off = dayfmt.slot_offset(rec[dayfmt.R_DATE], n)
    error = None
    for _attempt in range(2):
        try:
            with open(path, "r+b") as f:
                f.seek(off)
                f.write(data)
            return None
        except OSError as exc:
            error = "write failed: %r" % exc
            try:
                new_ring(path, n)
            except OSError:
                break
    return error


def audit(line, log, path=AUDIT_FILE, limit=AUDIT_MAX):
    """Append one line to the audit file (rotated at limit bytes)."""
    try:
        if os.stat(path)[6] > limit:
            os.rename(path, path + ".1")
    except OSError:
        pass
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as exc:
        log.error("totals: audit file: %r" % exc)


def read_audit(path=AUDIT_FILE):
    """The audit lines (newest last), for the settings page."""
    lines = []
    for name in (path + ".1", path):
        try:
            with open(name) as f:
                for line in f:
                    lines.append(line.rstrip("\n"))
        except OSError:
            pass
    return lines
