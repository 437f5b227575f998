"""Composition root: config -> board -> drivers -> services -> tasks -> supervisor.

Never a boot loop: a bad config boots defaults plus the access point and says
why; three unhealthy boots in a row (crashes before HEALTHY_AFTER_S) start safe
mode, which runs only Wi-Fi (AP) and the web pages.
"""
import asyncio
import gc
import sys
from asyncio import gather  # asyncio loads it lazily: now, while the heap is still free

from firmware import board as boardmod
from firmware import config as configmod
from firmware.clock import Clock
from firmware.log import Log
from firmware.store import Store
from firmware.supervisor import Supervisor

SAFE_MODE_FLAG = "safe_mode"
HEALTHY_AFTER_S = 60
MAX_UNHEALTHY_BOOTS = 3
HISTORY_CHANNELS = ("heatpump_elec", "heatpump_heat", "heatpump_flowT", "heatpump_returnT",
                    "heatpump_outsideT", "heatpump_cop")


class Context:
    """What the services share; built once at boot."""

    def __init__(self, cfg, config_errors, safe_mode, reset_cause):
        self.cfg = cfg
        self.config_errors = config_errors
        self.safe_mode = safe_mode
        self.reset_cause = reset_cause
        self.clock = Clock()
        self.log = Log(clock=self.clock.uptime_s)
        # The chart ring takes at most 1/64 of the free heap (4 + 4 B per channel per sample):
        # 240 samples (4 h) on a WROVER, about 70 (70 min) on a WROOM-32.
        points = min(cfg["web"]["history_points"], gc.mem_free() // 64 // (4 + 4 * len(HISTORY_CHANNELS)))
        self.store = Store(history_size=points, history_channels=HISTORY_CHANNELS)
        self.board = boardmod.Board(cfg["pins"], boardmod.psram_gpios())
        self.supervisor = None
        self.services = {}
        self.failed = {}     # service name -> why it could not start
        self.wifi = None
        self.mqtt = None
        self.auth_state = None  # admin sessions and login failures (firmware/web_routes.py)
        self.pending_cfg = None  # saved from the settings page, used after the next restart
        self.rtcmem = None  # firmware.rtcmem.RtcMemory, set by _run()


def _flag_set():
    try:
        import os
        os.stat(SAFE_MODE_FLAG)
    except OSError:
        return False
    return True


def _clear_flag():
    import os
    try:
        os.remove(SAFE_MODE_FLAG)
    except OSError:
        pass


def _client_id(cfg):
    uid = boardmod.unique_id()
    return "%s-%02x%02x%02x" % (cfg["node"], uid[-3], uid[-2], uid[-1])


async def _guarded(ctx, name, make):
    """Run a service; if it raises, log it and start it again after a pause.

    One broken driver must not take the web pages and the other inputs down.
    If it keeps failing, its supervisor check-ins stop and the watchdog resets.
    """
    while True:
        try:
            await make()
            return
        except Exception as exc:
            ctx.log.error("%s: crashed: %r; restarting in 5 s" % (name, exc))
            sys.print_exception(exc)
        await asyncio.sleep(5)


async def _record_history(ctx):
    """Sample the chart channels into the history ring once per web.history_s slot of wall
    time (on the minute at 60 s), from the first NTP sync on."""
    every = ctx.cfg["web"]["history_s"]
    last_slot = None
    while True:
        wall = ctx.clock.wall()
        if wall is None:  # not synced yet: the first sample soon after it is
            await asyncio.sleep(min(every, 5))
            continue
        if wall // every != last_slot:
            last_slot = wall // every
            ctx.store.record_history(wall)
        await asyncio.sleep(every - wall % every)  # a wake-up a little early just goes round again


async def _healthy_after(ctx, rtcmem):
    await asyncio.sleep(HEALTHY_AFTER_S)
    rtcmem.update(unhealthy_boots=0, low_heap=None)
    ctx.log.info("boot: healthy")
    import os
    if not ctx.safe_mode and "update.json" in os.listdir():  # an update on trial has proved itself
        try:                                                # (swap.py); its code loads only then
            from firmware import update_stage
            line = update_stage.confirm()
            if line:
                ctx.log.info(line)
        except Exception as exc:
            ctx.log.error("update: confirm failed: %r" % exc)
        from firmware.transient import forget
        forget("firmware.update_stage")


def flush_all(ctx):
    """Before machine.reset(): every service with unsaved state (energy totals, buffers)
    writes it to flash now (its prepare_restart(), else flush()). Never raises."""
    for name, service in ctx.services.items():
        flush = getattr(service, "prepare_restart", None) or getattr(service, "flush", None)
        if flush is None:
            continue
        try:
            flush()
        except Exception as exc:
            try:
                ctx.log.error("%s: flush failed: %r" % (name, exc))
            except MemoryError:
                pass


async def _serve_web(ctx):
    # Imported inside the guard: if even Microdot does not fit in the heap, the
    # board keeps measuring (or keeps its access point up in safe mode) and
    # retries, instead of crashing.
    from firmware.services import web
    await web.serve(ctx, ctx.cfg["http_port"])


def _start_service(ctx, tasks, name, module, cls):
    """Import an input service only now that config uses it (heap on a WROOM-32).

    A service is a class taking the Context, with run(supervisor) and
    max_silence_ms (how long it may go without checking in).
    """
    try:
        service_class = getattr(__import__(module, None, None, [cls]), cls)
        service = service_class(ctx)
    except MemoryError:
        # The configuration needs more heap than this board has. Running on without it would
        # starve the rest (seen on the WROOM stand-in: every request a 400, inputs crashing):
        # restart instead, so that after MAX_UNHEALTHY_BOOTS the board comes up in safe mode
        # and says why (main()).
        ctx.rtcmem.update(low_heap=name)
        raise
    except Exception as exc:  # a bad driver
        # The rest of the board keeps running; the failure is on the status page.
        gc.collect()
        ctx.failed[name] = repr(exc)
        ctx.log.error("%s: could not start: %r" % (name, exc))
        return
    ctx.services[name] = service
    ctx.supervisor.register(name, service.max_silence_ms)
    tasks.append(_guarded(ctx, name, lambda: service.run(ctx.supervisor)))


async def _run(ctx, rtcmem):
    ctx.rtcmem = rtcmem
    cfg = ctx.cfg
    log = ctx.log
    tasks = []
    sup = ctx.supervisor = Supervisor(log=log)

    from firmware.services.wifi import WifiService
    ctx.wifi = WifiService(ctx.board, cfg, log, ctx.clock, boardmod.unique_id(),
                           force_ap=ctx.safe_mode or bool(ctx.config_errors))
    tasks.append(_guarded(ctx, "wifi", lambda: ctx.wifi.run(sup)))
    sup.register("wifi", 30000)

    tasks.append(_guarded(ctx, "http", lambda: _serve_web(ctx)))
    try:  # the web server's code first: on a board short of heap the settings must stay reachable
        from firmware.services import web  # noqa: F401
    except MemoryError:
        gc.collect()
    if ctx.store.history is not None:
        tasks.append(_record_history(ctx))

    if not ctx.safe_mode:
        if cfg["ssr"]["enabled"]:  # first: the output goes to its safe state at once
            _start_service(ctx, tasks, "ssr", "firmware.services.ssr", "SsrService")
        for name, module, cls in configmod.input_services(cfg):
            _start_service(ctx, tasks, name, module, cls)
        if cfg["mqtt"]["enabled"] and cfg["mqtt"]["host"]:
            ctx.client_id = _client_id(cfg)
            _start_service(ctx, tasks, "mqtt", "firmware.services.mqtt", "MqttService")
            ctx.mqtt = ctx.services.get("mqtt")  # in services: flush_all() spills its buffer
        if cfg["emoncms"]["enabled"]:
            _start_service(ctx, tasks, "emoncms", "firmware.services.emoncms", "EmoncmsService")

    tasks.append(_healthy_after(ctx, rtcmem))
    # The watchdog starts last: once started it can never be stopped (ESP32).
    # Not in safe mode: a recovery mode that failed must halt, not reset in a loop.
    if not ctx.safe_mode:
        sup.wdt = ctx.board.wdt(cfg["watchdog_s"] * 1000)
    tasks.append(sup.run())
    gc.collect()
    log.info("boot: running, %d bytes free" % gc.mem_free())
    await gather(*tasks)


def main():
    try:
        cfg, errors = configmod.load()
    except Exception as exc:  # load() reports bad files itself; this is for its own bugs
        cfg, errors = configmod.defaults(), ["config: could not be read (%r): running on the defaults" % exc]
    from firmware.rtcmem import RtcMemory
    rtcmem = RtcMemory(boardmod.Board({}).rtc())
    kept = rtcmem.load()
    unhealthy = kept.get("unhealthy_boots", 0) + 1
    rtcmem.update(unhealthy_boots=unhealthy)
    safe = _flag_set() or unhealthy > MAX_UNHEALTHY_BOOTS
    if _flag_set():
        _clear_flag()  # one-shot: the next restart boots normally
    if safe and kept.get("low_heap"):
        errors = errors + ["memory: not enough heap to start %s with this configuration: turn features off "
                           "(Settings) or use an ESP32 with PSRAM (WROVER)" % kept["low_heap"]]
    ctx = Context(cfg, errors, safe, boardmod.reset_cause_name())
    from firmware import version
    ctx.log.info("boot: hpmon %s, node %s, reset cause: %s" % (version.VERSION, cfg["node"], ctx.reset_cause))
    for err in errors:
        ctx.log.error("config: " + err)
    if safe:
        why = "flag or button" if unhealthy <= MAX_UNHEALTHY_BOOTS else "%d unhealthy boots" % (unhealthy - 1)
        ctx.log.warning("boot: SAFE MODE (%s): access point and settings only" % why)
    try:
        asyncio.run(_run(ctx, rtcmem))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        # Anything that escapes is a bug: keep the trace on the console, then
        # start over. The unhealthy-boot counter turns a crash loop into safe mode.
        sys.print_exception(exc)
        gc.collect()
        try:
            flush_all(ctx)
        except MemoryError:
            pass
        if safe:
            # Safe mode itself failed: stop here instead of looping. No watchdog
            # runs unless it was started, the access point stays up, and the USB
            # REPL is available to repair the board.
            ctx.log.error("boot: safe mode failed (%r); halted at the REPL, no reset" % exc)
            return
        boardmod.reset()
