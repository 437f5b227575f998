"""The analytics service (firmware/services/analytics.py) in the unix port with stand-in
hardware: NVS with commit semantics and a full partition, RTC memory, the flash folder.

Each case boots the service as the board would (a fresh Store per boot), feeds readings
through the store as the input services do, and checks totals, the daily ring, the audit
trail and the MQTT daily message. Runs in a temporary folder (the board's flash)."""
import json
import os
import subprocess

from tools import paths

SCRIPT = r'''
import json, os, sys, time
from firmware import config as configmod
from firmware.store import Store
from firmware.log import Log
from firmware.rtcmem import RtcMemory
from firmware import analytics_day as dayfmt
from firmware.services import analytics as an

RESULTS = {}

def check(name, cond, detail=""):
    RESULTS[name] = bool(cond)
    if not cond:
        print("FAIL", name, detail)


class RTC:
    data = b""

    def memory(self, data=None):
        if data is None:
            return RTC.data
        RTC.data = bytes(data)


class NVS:
    committed = {}
    full = False
    commits = 0

    def __init__(self, ns):
        self.pending = {}

    def set_blob(self, key, value):
        self.pending[key] = bytes(value)

    def get_blob(self, key, buf):
        v = self.pending.get(key, NVS.committed.get(key))
        if v is None:
            raise OSError(-4354, "ESP_ERR_NVS_NOT_FOUND")
        buf[:len(v)] = v
        return len(v)

    def commit(self):
        if NVS.full:
            raise OSError(-4352, "ESP_ERR_NVS_NOT_ENOUGH_SPACE")
        NVS.committed.update(self.pending)
        NVS.commits += 1
        self.pending = {}


class Board:
    def rtc(self):
        return RTC()

    def nvs(self, ns):
        return NVS(ns)

    def gpio_input(self, gpio, pull_up=True, what=""):
        return None


class Clock:
    up = 0
    w = None

    def ticks(self):
        return time.ticks_ms()

    def wall(self):
        return Clock.w

    def uptime_s(self):
        return Clock.up


class Client:
    sent = []

    def publish(self, topic, msg, retain=False, qos=0):
        Client.sent.append((topic, msg, retain))


class Mqtt:
    connected = True
    connects = 1
    client = Client()


class Ctx:
    pass


def boot(cfg):
    ctx = Ctx()
    ctx.cfg = cfg
    ctx.store = Store()
    ctx.log = Log(echo=False)
    ctx.clock = Clock()
    ctx.board = Board()
    ctx.mqtt = Mqtt()
    ctx.services = {}
    Clock.up = 0
    svc = an.AnalyticsService(ctx)
    return ctx, svc


def put(ctx, name, value, unit="Wh"):
    ctx.store.update(name, value, unit, "ok", ctx.clock.ticks(), ctx.clock.wall())
    return ctx.store.value(name)


# ---- the time-weighted mean of a power channel between two analytics steps
m = an._Mean()
check("mean_empty", m.take(1000, 180000, True) is None)
m.put(1000.0, 0)
m.put(3000.0, 30000)
check("mean_weighted", m.take(60000, 180000, True) == 2000.0)
check("mean_held", m.take(120000, 180000, True) == 3000.0)
m.put(-3000.0, 150000)  # a reading between two steps counts for its share only
check("mean_share", m.take(180000, 180000, True) == 0.0)
check("mean_unknown", m.take(240000, 180000, False) is None)

cfg = configmod.defaults()
cfg["node"] = "unit"
cfg["elec"]["source"] = "ct1"  # heatpump_elec_wh: a counter from 0 at boot
# heat: the M-Bus meter of the defaults -> heatpump_heat_wh follows its register
plan = [p[0] for p in __import__("firmware.analytics_files", None, None, ["x"]).totals_plan(cfg)]
check("plan", "heatpump_heat_wh" in plan and "heatpump_elec_wh" in plan and "ct1_wh" in plan, plan)
auto = configmod.defaults()  # elec.source "auto" with CT 1 on: heatpump_elec_wh is CT 1's total
plan_auto = __import__("firmware.analytics_files", None, None, ["x"]).totals_plan(auto)
check("plan_auto", ("heatpump_elec_wh", "counter", True) in plan_auto, plan_auto)

# ---- first boot: nothing stored
ctx, svc = boot(cfg)
Clock.up = 600
check("fresh_elec", put(ctx, "heatpump_elec_wh", 250) == 250)
check("fresh_kwh_alias", put(ctx, "heatpump_elec_kwh", 0.25, "kWh") == 0.25)
check("fresh_heat", put(ctx, "heatpump_heat_wh", 8123000) == 8123000)
check("heat_kwh_alias", put(ctx, "heatpump_heat_kwh", 8123.0, "kWh") == 8123.0)
svc.step(10000)
check("first_write", NVS.commits >= 1 and "totals" in NVS.committed, NVS.committed)
Clock.up = 700
put(ctx, "heatpump_elec_wh", 255)  # +5 Wh: below min_change_wh, not in flash yet
svc.step(10000)
check("throttled", svc.book.items["heatpump_elec_wh"].total.saved_wh == 250)
check("rtc_has_it", "an" in json.loads(RTC.data))
check("rtc_shared", RtcMemory(RTC()).update(unhealthy_boots=2)["an"]["t"] != "")

# ---- watchdog / soft reset: RTC memory kept; the input service counts from 0 again
ctx, svc = boot(cfg)
check("soft_restored", ctx.store.value("heatpump_elec_wh") == 255, ctx.store.value("heatpump_elec_wh"))
check("soft_unhealthy_kept", json.loads(RTC.data).get("unhealthy_boots") == 2)
Clock.up = 20
check("soft_continues", put(ctx, "heatpump_elec_wh", 3) == 258)
check("soft_register", put(ctx, "heatpump_heat_wh", 8123050) == 8123050)
svc.step(10000)

# ---- power cut: RTC memory lost, flash has the last throttled write
saved = NVS.committed["totals"]
RTC.data = b""
ctx, svc = boot(cfg)
from firmware.analytics_persist import decode_blob
flash_elec = decode_blob(saved)["heatpump_elec_wh"][1][2]
check("cut_from_flash", ctx.store.value("heatpump_elec_wh") == flash_elec and 250 <= flash_elec <= 258,
      (ctx.store.value("heatpump_elec_wh"), flash_elec))
Clock.up = 30
check("cut_continues", put(ctx, "heatpump_elec_wh", 4) == flash_elec + 4)
# the meter's register went on while the board was off: it wins
check("cut_register_wins", put(ctx, "heatpump_heat_wh", 8124000) == 8124000)
check("never_backwards", put(ctx, "heatpump_heat_wh", 8000000) == 8124000
      and ctx.store.channels["heatpump_heat_wh"].status == "held: backwards")

# ---- flash full: kept in RTC memory, logged once, saved when space is back
NVS.full = True
Clock.up = 2000
put(ctx, "heatpump_elec_wh", 400)
svc.step(10000)
svc.step(10000)
errors = [l for l in ctx.log.lines if "saving totals to flash failed" in l]
check("full_logged_once", len(errors) == 1, ctx.log.lines)
check("full_state", svc.state()["flash_error"] is not None)
rtc_blob = an._unhex(json.loads(RTC.data)["an"]["t"])
check("full_in_rtc", decode_blob(rtc_blob)["heatpump_elec_wh"][1][2] == flash_elec + 400)
NVS.full = False
Clock.up = 2400
svc.step(10000)
check("full_recovered", svc.state()["flash_error"] is None
      and decode_blob(NVS.committed["totals"])["heatpump_elec_wh"][1][2] == flash_elec + 400)

# ---- a correction by hand: audit line in the log and the audit file, written at once
commits = NVS.commits
audit = svc.set_total("heatpump_elec_kwh", 1500000, "new meter fitted")
check("set_value", ctx.store.value("heatpump_elec_wh") == 1500000 and ctx.store.value("heatpump_elec_kwh") == 1500.0)
check("set_flash_now", NVS.commits == commits + 1
      and decode_blob(NVS.committed["totals"])["heatpump_elec_wh"][1][2] == 1500000)
with open("totals_audit.log") as f:
    line = json.loads(f.read().strip().split("\n")[-1])
check("set_audit_file", line["name"] == "heatpump_elec_wh" and line["new_wh"] == 1500000
      and line["reason"] == "new meter fitted" and line["old_wh"] == flash_elec + 400, line)
check("set_audit_log", any("new meter fitted" in l for l in ctx.log.lines))
Clock.up = 2410
check("set_continues", put(ctx, "heatpump_elec_wh", 410) == 1500010)
check("set_replace_meter", svc.replace_meter("heatpump_heat_wh", 100)["register_wh"] == 100
      and put(ctx, "heatpump_heat_wh", 130) == 8124030)

# ---- graceful restart: the unsaved delta goes to flash
Clock.up = 2420
put(ctx, "heatpump_elec_wh", 413)
svc.flush()
check("flush_writes", decode_blob(NVS.committed["totals"])["heatpump_elec_wh"][1][2] == 1500013)
RTC.data = b""
ctx, svc = boot(cfg)
check("flush_survives_cut", ctx.store.value("heatpump_elec_wh") == 1500013)

# ---- a day closes at local midnight (Europe/London rules, 2026-07-01 is BST = UTC+1)
MIDNIGHT = 1782860400  # 2026-07-01 00:00 BST = 2026-06-30 23:00 UTC
Clock.w = MIDNIGHT - 60
Clock.up = 100
for i in range(6):  # 60 s running before midnight, COP 3
    put(ctx, "heatpump_elec", 1000.0, "W")
    put(ctx, "heatpump_heat", 3000.0, "W")
    svc.step(10000)
    Clock.w += 10
check("before_midnight", svc.daily_pending is None)
Clock.w = MIDNIGHT + 5
svc.step(15000)
check("closed", svc.daily is not None and svc.daily["date"] == "2026-06-30", svc.daily)
# 6 x 10 s, then the 10 s of the next 15 s reading that lie before midnight: 70 s
check("daily_sums", svc.daily["elec_wh"] == round(1000 * 70 / 3600) and svc.daily["heat_wh"] == round(3000 * 70 / 3600)
      and svc.daily["starts"] == 1 and svc.daily["run_s"] == 70, svc.daily)
sent = [m for m in Client.sent if m[0] == b"hpmon/unit/daily"]
check("daily_mqtt", len(sent) == 1 and sent[0][2] is True
      and json.loads(sent[0][1])["date"] == "2026-06-30", Client.sent)
svc.step(10000)
check("daily_once", len([m for m in Client.sent if m[0] == b"hpmon/unit/daily"]) == 1)
Mqtt.connects = 2  # the link dropped (maybe with the summary in its send buffer) and came back
svc.step(10000)
sent = [m for m in Client.sent if m[0] == b"hpmon/unit/daily"]
check("daily_again_after_reconnect", len(sent) == 2 and sent[1] == sent[0], sent)
check("ring_file", os.stat("analytics_days.bin")[6] == dayfmt.HEADER_SIZE + 64 * dayfmt.SIZE)
check("module_dropped", "firmware.analytics_files" not in sys.modules)

# ---- yesterday's summary after a reboot (from the ring), COP of yesterday published
RTC.data = b""
ctx, svc = boot(cfg)
check("yesterday_kept", svc.daily is not None and svc.daily["date"] == "2026-06-30", svc.daily)
Clock.w = MIDNIGHT + 600
svc.step(10000)
check("cop_yesterday", ctx.store.value("heatpump_cop_yesterday") == round(58 / 19, 2),
      ctx.store.value("heatpump_cop_yesterday"))

# ---- a corrupt ring is set aside, never a crash; the new ring works
with open("analytics_days.bin", "wb") as f:
    f.write(b"\xde\xad" * 100)
ctx, svc = boot(cfg)
check("corrupt_detected", svc.ring_status == "corrupt file replaced" and svc.days_loaded == 0)
check("corrupt_kept", os.stat("analytics_days.bin.bad")[6] == 200)
check("corrupt_logged", any("corrupt" in l for l in ctx.log.lines))
check("new_ring", os.stat("analytics_days.bin")[6] == dayfmt.HEADER_SIZE + 64 * dayfmt.SIZE)

print("RESULTS " + json.dumps(RESULTS))
'''


def test_analytics_service_boots_persists_and_rolls_over(tmp_path):
    script = tmp_path / "case.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % paths.ROOT)
    out = subprocess.run([paths.venv_bin("micropython"), "-X", "heapsize=4M", str(script)],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert line, text[-4000:]
    results = json.loads(line[-1][len("RESULTS "):])
    failed = sorted(k for k, ok in results.items() if not ok)
    assert not failed, text[-4000:]
    assert len(results) >= 40
