"""The daily record in words (pure): field names, the JSON summary published at midnight,
and an in-RAM image of the daily ring (tests, tools). Kept apart from analytics_day so that the
board loads it only when a day closes or at boot (heap on a WROOM-32).
"""
from firmware.analytics_day import (
    EPOCH_DAY,
    HEADER_SIZE,
    NO_TEMP,
    R_DATE,
    R_DAY_MIN,
    R_ELEC,
    R_ELEC_RUN,
    R_HEAT,
    R_HEAT_RUN,
    SIZE,
    DayError,
    decode,
    encode,
    header,
    slot_offset,
)
from firmware.analytics_tz import date_str

FIELDS = ("date", "day_min", "elec_wh", "heat_wh", "elec_run_wh", "heat_run_wh",
          "elec_dhw_wh", "heat_dhw_wh", "defrost_wh", "ideal_wh", "heat_carnot_wh",
          "heat_w_wh", "flow_ct", "dt_ct", "out_ct", "starts", "defrosts", "run_s",
          "valid_elec_s", "valid_heat_s", "cum_elec_wh", "cum_heat_wh", "cum_elec_run_wh",
          "cum_heat_run_wh")


def _c(v):
    return None if v == NO_TEMP else v / 100.0


def _pct(num, den, digits=1):
    return None if den <= 0 else round(100.0 * num / den, digits)


def _cop(heat, elec):
    return None if elec <= 0 else round(heat / elec, 2)


def summary(rec):
    """JSON-able dict of a record: the daily summary message published at midnight."""
    r = rec
    day_s = r[R_DAY_MIN] * 60
    elec, heat, erun, hrun = r[R_ELEC], r[R_HEAT], r[R_ELEC_RUN], r[R_HEAT_RUN]
    edhw, hdhw = r[6], r[7]
    return {
        "date": date_str(r[R_DATE] + EPOCH_DAY),
        "hours": round(day_s / 3600.0, 2),
        "elec_wh": elec, "heat_wh": heat, "cop": _cop(heat, elec),
        "elec_run_wh": erun, "heat_run_wh": hrun, "running_cop": _cop(hrun, erun),
        "standby_wh": max(0, elec - erun),
        "elec_dhw_wh": edhw, "heat_dhw_wh": hdhw, "dhw_cop": _cop(hdhw, edhw),
        "space_cop": _cop(heat - hdhw, elec - edhw),
        "starts": r[15], "defrosts": r[16], "defrost_wh": r[8], "run_s": r[17],
        "cycle_s": r[17] // r[15] if r[15] else None,
        "flowT": _c(r[12]), "dT": _c(r[13]), "outsideT": _c(r[14]),
        "carnot_pct": _pct(r[10], r[9]),
        "quality_elec": _pct(r[18], day_s), "quality_heat": _pct(r[19], day_s),
    }


class DailyRing:
    """n daily records in one bytearray (HEADER_SIZE + n * SIZE bytes), the flash image."""

    def __init__(self, n=64):
        if n < 1:
            raise DayError("ring size")
        self.n = n
        self.buf = bytearray(HEADER_SIZE + n * SIZE)
        self.buf[:HEADER_SIZE] = header(n)

    def load(self, data):
        """Adopt a flash image; False (ring left empty) if the header does not match."""
        if len(data) != len(self.buf) or bytes(data[:HEADER_SIZE]) != header(self.n):
            return False
        self.buf[:] = data
        return True

    def put(self, rec):
        off = slot_offset(rec[R_DATE], self.n)
        self.buf[off:off + SIZE] = encode(rec)
        return off

    def get(self, date):
        rec = decode(self.buf, slot_offset(date, self.n))
        return rec if rec is not None and rec[R_DATE] == date else None

    def records(self):
        """All valid records, oldest first."""
        out = []
        for i in range(self.n):
            rec = decode(self.buf, HEADER_SIZE + i * SIZE)
            if rec is not None and rec[R_DATE] % self.n == i:
                out.append(rec)
        out.sort(key=lambda r: r[R_DATE])
        return out
