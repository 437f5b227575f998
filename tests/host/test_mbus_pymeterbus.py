"""Differential test: our M-Bus decoder against pyMeterBus (PyPI `pyMeterBus`, an independent
implementation) over the whole corpus in ../shared/mbus-frames.

Per record we compare the value (numbers to 1e-9 relative, dates by their ISO text), the
unit (after mapping pyMeterBus's unit names onto libmbus's), function, storage number,
tariff and subunit. Every disagreement is listed in DISAGREEMENTS with the category that
explains it; the test fails on any disagreement not listed and on any listed one that no
longer occurs, so the list is always the complete, current one. Run with -s to print it.
"""
import decimal
import glob
import json
import os

import pytest

from firmware import mbus_frame as mf
from firmware import mbus_records as mr
from tools import mbus as cli

meterbus = pytest.importorskip("meterbus")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAMES = os.path.join(os.path.dirname(ROOT), "shared", "mbus-frames")

CATEGORIES = {
    "bcd-error-nibbles":
        "BCD data with A-F nibbles (meters' error/blank marks): pyMeterBus multiplies them "
        "out as digits (13131113 W); EN 13757-3 annex A allows only 0-9 and a leading F as "
        "the minus sign, so we report no value and flag the record invalid.",
    "mfr-data-after-1f":
        "DIF 1F (more records follow): pyMeterBus gives no value; we return the manufacturer "
        "bytes that follow the DIF (empty when there are none), as libmbus does.",
    "vife-correction":
        "Combinable VIFE 70-77 (multiplicative correction 10^(n-6)): pyMeterBus ignores it "
        "(raw -81, 165, 868); we apply it (-8.1 VAR, 16.5 VA, 0.868), as m-bus-parser's "
        "test asserts.",
    "fb-table-missing":
        "FB extension codes pyMeterBus lacks (reactive energy/power, apparent power): it "
        "says 'Reserved'; we give the EN 13757-3 quantity and unit (VARh, VAR, VA).",
    "type-i-datetime":
        "48-bit date/time (type I, seconds first): pyMeterBus reads it as a type F value; we "
        "decode type I (2016-07-22T08:00:00), as libmbus does.",
    "year-127-wildcard":
        "Type G year 127 means 'every year' (a recurring billing date): pyMeterBus prints "
        "2027; we print ISO 8601's year-less form --01-01.",
    "rssi-scale":
        "FD 71 RF level: pyMeterBus converts with 2*raw-130 (a wM-Bus RSSI scale); "
        "EN 13757-3 gives the unit dBm and no offset, so we report the raw value (contested).",
    "binary-plain-text":
        "Plain-text VIF followed by binary LVAR data (F0 = 16 bytes): pyMeterBus mis-sizes "
        "the field and splits it into two records; we read one 16-byte binary value, as "
        "libmbus does.",
    "non-printable-text":
        "LVAR text with non-printable bytes: both report the bytes, pyMeterBus in frame "
        "order, we most significant first like libmbus's binary values.",
    "vif-7b-no-extension":
        "VIF 7B without its extension byte (Sensus PolluTherm): pyMeterBus crashes with a "
        "KeyError; we decode the frame and report that record as 'Unknown' (value 302).",
    "fixed-format":
        "CI 73 fixed-format frames: pyMeterBus does not support them; we decode both "
        "counters.",
    "master-frame":
        "SND_UD frames (C 53, CI 51) from a master: pyMeterBus rejects them; we decode their "
        "records (useful when sniffing a bus).",
    "mfr-ci":
        "CI B7 (manufacturer specific): both refuse; counted so the list stays complete.",
    "malformed":
        "Truncated records, >10 DIFE/VIFE, short header, bad length, stray characters: both "
        "refuse (we raise MBusDecodeError/MBusFrameError/HexError).",
    "error-reply":
        "CI 70 application-error replies: pyMeterBus cannot decode them; we report the error "
        "code (e.g. 'Application busy').",
    "truncated-accepted":
        "Frames whose last record is cut short (libmbus error-frames): pyMeterBus returns the "
        "records with a None value for the cut one; we refuse the frame with MBusDecodeError, "
        "as libmbus does, so a damaged telegram is never half used.",
}

# (corpus file, record index or None for the whole frame) -> category
DISAGREEMENTS = {}


def _add(cat, *keys):
    for k in keys:
        DISAGREEMENTS[k] = cat


_add("bcd-error-nibbles", ("libmbus/abb_f95.hex", 2), ("libmbus/abb_f95.hex", 3),
     ("pymeterbus/hyd_heat_meter.json", 7), ("pymeterbus/hyd_heat_meter.json", 8))
_add("mfr-data-after-1f", *[("libmbus/%s.hex" % n, i) for n, i in (
    ("ELV-Elvaco-CMa10", 12), ("Elster-F2", 13), ("SEN_Sensus-PolluStat-E", 9),
    ("THI_cma10", 12), ("abb_delta", 14), ("berg_dz_plus", 16), ("elv_temp_humid", 12),
    ("sen_pollucom_e", 9), ("sontex_supercal_531_telegram1", 10),
    ("tch_telegramm1", 9))])
_add("mfr-data-after-1f", ("issues/sontex_supercal_531_libmbus90.json", 16),
     ("jmbus/elster_f2_heat_msg3.json", 13), ("jmbus/heat_outlet_msg7.json", 12),
     ("m-bus-parser/sontex_heat_real32.json", 24), ("m-bus-parser/tst_electricity.json", 11),
     ("pymeterbus/elvaco_plaintext_vif.json", 25))
_add("vife-correction", ("m-bus-parser/tst_electricity.json", 3),
     ("m-bus-parser/tst_electricity.json", 4), ("m-bus-parser/tst_electricity.json", 5))
_add("fb-table-missing", ("m-bus-parser/tst_electricity.json", 1))
_add("type-i-datetime", ("libmbus/LGB_G350.hex", 1))
_add("year-127-wildcard", ("m-bus-parser/sontex_heat_real32.json", 16))
_add("rssi-scale", ("pymeterbus/weptech_room_sensor.json", 2), ("pymeterbus/WEP-indoor.blob", 2))
_add("binary-plain-text", ("libmbus/example_binary16_lvar.hex", None))
_add("non-printable-text", ("pymeterbus/elvaco_plaintext_vif.json", 2))
_add("vif-7b-no-extension", ("libmbus/sen_pollutherm.hex", None))
_add("fixed-format", ("libmbus/manual_frame2.hex", None), ("libmbus/sen_pollusonic_2.hex", None))
_add("master-frame", *[("libmbus/unsupported-frames/manual_frame%d.hex" % n, None)
                       for n in (4, 5, 6)])
_add("mfr-ci", ("issues/sontex_supercal_531_ci_b7_libmbus90.json", None))
_add("error-reply", *[("libmbus/error-frames/%s.hex" % n, None) for n in (
    "application_busy", "buffer_too_long", "error", "premature_end_of_record",
    "too_many_difes", "too_many_readouts", "too_many_records", "too_many_vifes",
    "unimplemented_ci", "unspecified_error")])
_add("mfr-data-after-1f", ("libmbus/unsupported-frames/svm_f22_telegram2.hex", 0))
_add("truncated-accepted", *[("libmbus/error-frames/%s.hex" % n, None) for n in (
    "premature_end_of_data1", "premature_end_of_data2", "premature_end_of_dif1",
    "premature_end_of_dif2", "premature_end_of_vif1", "too_many_vife")])

# frames both decoders refuse (category "malformed"): not disagreements, but listed so that
# a frame that starts decoding on either side is noticed
BOTH_REFUSE = {
    "libmbus/error-frames/%s.hex" % n for n in (
        "premature_end_of_var_vif1", "too_long_var_vif", "too_many_dife",
        "too_short_header")} | {
    "libmbus/unsupported-frames/invalid_length.hex",
    "libmbus/unsupported-frames/invalid_length2.hex",
    "libmbus/unsupported-frames/manual_frame1.hex",
    "issues/sontex_supercal_531_ci_b7_libmbus90.json",
}

_UNIT = {"C": "\u00b0C", "seconds": "s", "none": "", "H.C.A": "Units for H.C.A.",
         "date": "-", "date time": "-", "date time to second": "-", "time": "-"}
_FN = {0: 0, 1: 1, 2: 2, 3: 3, 4: mr.FN_MFR, 6: mr.FN_MORE}


def _corpus():
    out = []
    for path in sorted(glob.glob(os.path.join(FRAMES, "libmbus", "**", "*.hex"),
                               recursive=True)):
        out.append((path, open(path, encoding="latin-1").read()))
    for path in sorted(glob.glob(os.path.join(FRAMES, "*", "*.json"))):
        out.append((path, json.load(open(path))["frame_hex"]))
    for path in sorted(glob.glob(os.path.join(FRAMES, "pymeterbus", "*.blob"))):
        out.append((path, open(path, "rb").read().hex()))
    return [(os.path.relpath(p, FRAMES), text) for p, text in out]


def _ours(text):
    try:
        raw = cli.parse_hex(text)
        f = mf.parse_frame(raw)
        return mr.decode(f.ci, f.data)[1], None
    except (ValueError, mr.MBusDecodeError) as e:  # our own classes are ValueErrors
        assert isinstance(e, (mr.MBusDecodeError, mf.MBusFrameError, cli.HexError)), repr(e)
        return None, e


def _theirs(text):
    try:
        raw = bytes.fromhex("".join(text.split()))
    except ValueError:
        return None
    try:
        return [(r, r.interpreted, r.unit) for r in meterbus.load(raw).records]
    except Exception:  # pyMeterBus raises assorted errors (KeyError, IndexError, ...)
        return None


def _value_equal(a, r):
    b = r.value
    if a.vtype in (mr.T_INT, mr.T_BCD, mr.T_REAL):
        if a.value is None or not isinstance(b, (int, float, decimal.Decimal)):
            return a.value is None and b is None
        return abs(float(b) - a.value) <= 1e-9 * max(1.0, abs(a.value))
    if a.vtype == mr.T_DATE:
        return isinstance(b, str) and cli.iso(a.value).startswith(b)
    if a.vtype in (mr.T_MFR, mr.T_BIN):
        return isinstance(b, str) and b.replace(" ", "").upper() == a.value.hex().upper()
    if a.vtype == mr.T_NONE:
        return b is None
    return a.value == b


def _record_disagrees(a, t):
    r, info, unit = t
    if not _value_equal(a, r):
        return "value"
    if a.function != _FN.get(r.function, -1):
        return "function"
    if a.storage != info["storage_number"] or a.tariff != (info.get("tariff") or 0) or \
            a.subunit != (info.get("device") or 0):
        return "storage/tariff/subunit"
    if a.vtype not in (mr.T_MFR, mr.T_DATE) and a.text is None:
        u = _UNIT.get(unit, unit)
        # naming only: "Reserved" codes and manufacturer-specific VIFs have no unit
        if u != a.unit and not ((a.mfr or a.unit == "Reserved") and u == ""):
            return "unit %r vs %r" % (a.unit, u)
    return None


def _disagreements():
    found = {}
    refused = set()
    for name, text in _corpus():
        ours, _err = _ours(text)
        theirs = _theirs(text)
        if ours is None and theirs is None:
            refused.add(name)
            continue
        if ours is None or theirs is None or len(ours) != len(theirs):
            found[(name, None)] = "frame: ours %s, pyMeterBus %s" % (
                "error" if ours is None else len(ours), "error" if theirs is None else len(theirs))
            continue
        for i, (a, t) in enumerate(zip(ours, theirs)):
            why = _record_disagrees(a, t)
            if why:
                found[(name, i)] = why
    return found, refused


def test_every_disagreement_is_listed_and_explained():
    found, refused = _disagreements()
    lines = []
    for key in sorted(found, key=str):
        cat = DISAGREEMENTS.get(key, "UNLISTED")
        lines.append("%-60s %-10s %-22s %s" % (key[0], key[1], cat, found[key]))
    print("\n".join(lines))
    unlisted = sorted((k for k in found if k not in DISAGREEMENTS), key=str)
    stale = sorted((k for k in DISAGREEMENTS if k not in found and k[0] not in refused),
                   key=str)
    assert not unlisted, "new disagreements with pyMeterBus:\n" + "\n".join(
        "%s %s: %s" % (k[0], k[1], found[k]) for k in unlisted)
    assert not stale, "listed disagreements that no longer occur: %r" % stale
    assert refused == BOTH_REFUSE
    for cat in set(DISAGREEMENTS.values()) | {"malformed"}:
        assert cat in CATEGORIES


def test_agreement_is_the_rule():
    # the listed cases are exceptions: most records of the corpus decode identically
    total = agree = 0
    for _name, text in _corpus():
        ours, _ = _ours(text)
        theirs = _theirs(text)
        if ours is None or theirs is None or len(ours) != len(theirs):
            continue
        for a, t in zip(ours, theirs):
            total += 1
            agree += _record_disagrees(a, t) is None
    assert total > 900 and agree >= 0.95 * total, (agree, total)
