"""Host side of the emulated board (CPython): boots the firmware in the
MicroPython unix port with the simulated hardware first on the path, and
reboots it when the firmware resets or the watchdog starves.
"""
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from tools import paths

# Exit codes of the simulated machine module (tools/emulator/sim/machine.py)
EXIT_HARD_RESET = 80
EXIT_SOFT_RESET = 81
EXIT_WDT_RESET = 82
EXIT_POWER_CUT = 83  # a simulated power cut (tools/emulator/sim/sim_flash.py), then power on
_RESET_CAUSE = {EXIT_HARD_RESET: 2, EXIT_SOFT_RESET: 5, EXIT_WDT_RESET: 3, EXIT_POWER_CUT: 1}
WDT_GRACE_MS = 1000


# Extra heap granted for the simulated hardware's own code and data; the
# board's _sim_boot fills what the simulator does not use with a ballast block.
SIM_HEAP_ALLOWANCE = 512 * 1024
# On the ESP32, MicroPython has a core to itself (Wi-Fi runs on the other), so a 50 ms CT burst
# is not preempted. On the host, a test runner, a broker or a browser sharing two cores would
# preempt it for several ms and spoil the burst: a host artefact, not a board fault (the
# emulator's irq_storm fault is how the firmware is tested against a busy CPU). Measured with
# three CPU hogs beside two boards: at normal priority and at nice -10 nearly every burst was
# dropped; with SCHED_RR none was. So a board at real-time speed runs SCHED_RR where the host
# allows it (root); it sleeps most of the time (a CT board uses about a fifth of a core) and
# Linux keeps 5 % of the CPU for normal tasks even if it did not. A fast-forwarded board
# (speed > 1) may run flat out and keeps normal priority. HPMON_BOARD_SCHED=rr|nice|none
# overrides the choice.
BOARD_RT_PRIORITY = 1
BOARD_NICE = -10


def parse_heap(text):
    """'150K' / '2M' / '96000' -> bytes."""
    text = str(text).strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise ValueError("heap size like 150K or 2M expected, got %r" % text)
    return int(digits) * scale


def parse_start_time(value):
    """Scenario/CLI "start_time" -> unix seconds (float): a number, or ISO 8601 text
    ("2026-03-28T23:50:00Z", "2026-03-28T23:50:00+01:00"; without an offset: UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    import datetime
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def default_firmware_dir():
    """build/ when it has been built (what goes on the board), else the sources."""
    if os.path.exists(os.path.join(paths.BUILD_DIR, "main.py")):
        return paths.BUILD_DIR
    return paths.ROOT


def board_sched(speed):
    """The scheduling the board's process asks for (see BOARD_RT_PRIORITY)."""
    return os.environ.get("HPMON_BOARD_SCHED") or ("rr" if speed == 1 else "none")


def _raise_priority(mode):
    """In the board's process before exec; without the right to, it runs as it is."""
    try:
        if mode == "rr":
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(BOARD_RT_PRIORITY))
        elif mode == "nice":
            os.nice(BOARD_NICE)
    except (OSError, AttributeError):
        pass


class EmulatedBoard:
    """One emulated ESP32. start() boots it; stop() cuts the power."""

    def __init__(self, scenario, state_dir, http_port=8080, mqtt_host="127.0.0.1", mqtt_port=1883,
                 heap="2M", firmware_dir=None, flash_dir=None, speed=1, serial=None,
                 config_overrides=None, output=None, echo=True, start_time=None, romfs=False):
        self.scenario_path = os.path.abspath(scenario)
        with open(self.scenario_path) as f:
            self.scenario = json.load(f)
        self.state_dir = os.path.abspath(state_dir)
        self.flash_dir = os.path.abspath(flash_dir or os.path.join(self.state_dir, "flash"))
        self.http_port = http_port
        self.mqtt_host = mqtt_host
        self.mqtt_port = mqtt_port
        self.heap = parse_heap(heap)
        self.firmware_dir = os.path.abspath(firmware_dir) if firmware_dir else None
        # The board's clock runs `speed` x faster than the host's (tools/emulator/sim/time.py)
        # and reads start_time (unix s; scenario "start_time"; default: the host time) at
        # power-on: its wall time = start_s + (host time - epoch) x speed.
        self.speed = max(1, int(speed))
        self.start_time = parse_start_time(start_time if start_time is not None
                                           else self.scenario.get("start_time"))
        self.start_s = None
        self._resume = False
        self.serial = serial
        # romfs: the firmware package and lib/ are imported in place from a ROM image, as on an
        # ESP32 whose MicroPython was built with ROMFS (tools/romfs.py); the image itself lives
        # outside the firmware's heap budget, as a flash partition does
        self.romfs = romfs
        self.romfs_bytes = 0
        self.config_overrides = config_overrides or {}
        self.output = output
        self.echo = echo
        self.process = None
        self.serial_process = None
        self.boots = []          # (reset cause, exit code of the previous run)
        self.exit_code = None
        self._stop = False
        self._thread = None
        self.epoch_ms = None

    # ------------------------------------------------------------ flash + config
    def prepare(self):
        os.makedirs(self.flash_dir, exist_ok=True)
        os.makedirs(self.state_dir, exist_ok=True)
        paths.ensure_umqtt()
        self._write_config()
        # Power-on: RTC slow memory and the watchdog do not survive a power cut.
        for name in ("rtc_memory.bin", "wdt_deadline"):
            try:
                os.remove(os.path.join(self.state_dir, name))
            except OSError:
                pass
        if not (self._resume and self.epoch_ms is not None):
            self.epoch_ms = int(time.time() * 1000)
            self.start_s = self.start_time if self.start_time is not None else self.epoch_ms / 1000.0
        self._resume = False

    def _write_config(self):
        """Scenario config on first boot; the CLI's broker every boot."""
        path = os.path.join(self.flash_dir, "config.json")
        config = None
        if os.path.exists(path):
            try:
                with open(path) as f:
                    config = json.load(f)
            except ValueError:
                return  # a corrupt file is part of the test: leave it for the firmware
        if not isinstance(config, dict):
            config = json.loads(json.dumps(self.scenario.get("config", {})))
            networks = self.scenario.get("wifi", {}).get("networks", [])
            if networks and "wifi" not in config:
                config["wifi"] = {"ssid": networks[0]["ssid"], "key": networks[0].get("key", "")}
        mqtt = config.setdefault("mqtt", {})
        if self.mqtt_host is not None:
            mqtt["host"] = self.mqtt_host
            mqtt["port"] = self.mqtt_port
        for key, value in self.config_overrides.items():
            config[key] = value
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(config, f, indent=1)
        os.replace(tmp, path)

    # ------------------------------------------------------------ processes
    def firmware(self):
        if self.firmware_dir:
            return self.firmware_dir
        if os.path.exists(os.path.join(self.flash_dir, "main.py")):
            return self.flash_dir  # deployed with mpremote: boot what is on the board
        return default_firmware_dir()

    def environment(self, reset_cause=1):
        fw = self.firmware()
        micropypath = [paths.SIM_DIR, fw, os.path.join(fw, "lib"), paths.FROZEN_DIR, ".frozen"]
        env = dict(os.environ)
        env.update({
            "MICROPYPATH": ":".join(micropypath),
            "HPMON_SCENARIO": self.scenario_path,
            "HPMON_SIM_DIR": self.state_dir,
            "HPMON_FIRMWARE": fw,
            "HPMON_EPOCH_MS": str(self.epoch_ms),
            "HPMON_RESET_CAUSE": str(reset_cause),
            "HPMON_SPEED": str(self.speed),
            "HPMON_START_S": "%.3f" % self.start_s,
            "HPMON_HEAP_TARGET": str(self.heap),
            "HPMON_ROMFS": self.romfs_image() if self.romfs else "",
            # the board's web server (port 80) appears on the host's http_port
            "HPMON_PORT_MAP": "80:%d" % self.http_port,
        })
        return env

    def romfs_image(self):
        """The ROM image of the firmware build (made at each boot: an update may change it)."""
        from tools import romfs
        path = os.path.join(self.state_dir, "romfs.img")
        self.romfs_bytes = romfs.write_image(self.firmware(), path)
        return path

    def _spawn(self, reset_cause):
        env = self.environment(reset_cause)
        heapsize = self.heap + SIM_HEAP_ALLOWANCE + self.romfs_bytes
        cmd = [paths.venv_bin("micropython"), "-X", "heapsize=%d" % heapsize,
               os.path.join(paths.SIM_DIR, "_sim_boot.py")]
        self.process = subprocess.Popen(cmd, cwd=self.flash_dir, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=functools.partial(_raise_priority, board_sched(self.speed)))
        threading.Thread(target=self._pump_output, args=(self.process,), daemon=True).start()

    def _pump_output(self, process):
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            if self.output is not None:
                self.output.write(line)
                self.output.flush()
            if self.echo:
                sys.stdout.write(line)
                sys.stdout.flush()

    def _wdt_starved(self):
        try:
            with open(os.path.join(self.state_dir, "wdt_deadline")) as f:
                deadline = int(f.read() or 0)
        except (OSError, ValueError):
            return False
        # the deadline is on the board's (virtual) clock; the grace is real time
        return deadline and self.virtual_now() * 1000 > deadline + WDT_GRACE_MS * self.speed

    def _supervise(self):
        cause = 1
        while not self._stop:
            self.boots.append(cause)
            self._spawn(cause)
            code = None
            while code is None and not self._stop:
                code = self.process.poll()
                if code is None and self.serial_process is not None and self.serial_process.poll() is not None:
                    # machine.reset() on the serial REPL (mpremote reset after a
                    # deploy): the whole board reboots, from the files now in flash.
                    self._log("[emulator] reset from the serial REPL: rebooting the board")
                    self._kill(self.process)
                    self.process.wait()
                    self.start_serial()
                    code = EXIT_HARD_RESET
                if code is None and self._wdt_starved():
                    # The watchdog fires even when the firmware never returns to
                    # the simulated hardware (a loop that blocks the scheduler).
                    self._log("[emulator] watchdog starved: resetting the board")
                    self._kill(self.process)
                    self.process.wait()
                    code = EXIT_WDT_RESET
                if code is None:
                    time.sleep(0.1)
            if self._stop:
                break
            try:
                os.remove(os.path.join(self.state_dir, "wdt_deadline"))
            except OSError:
                pass
            if code == EXIT_POWER_CUT:
                self._lose_power()
            if code in _RESET_CAUSE:
                cause = _RESET_CAUSE[code]
                self._log("[emulator] board reset (exit %d); booting again" % code)
                continue
            self.exit_code = code
            self._log("[emulator] firmware exited with code %s; the board is halted" % code)
            break

    def _lose_power(self):
        """A power cut from inside the board (a fault): RTC slow memory is lost."""
        try:
            os.remove(os.path.join(self.state_dir, "rtc_memory.bin"))
        except OSError:
            pass
        self._log("[emulator] power cut: the board is off, then powered on again")

    def _log(self, text):
        if self.output is not None:
            self.output.write(text + "\n")
            self.output.flush()
        if self.echo:
            print(text, flush=True)

    @staticmethod
    def _kill(process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # ------------------------------------------------------------ the board's clock
    def virtual_now(self):
        """The board's wall time now (unix s): the host's, or sped up / shifted."""
        return self.start_s + (time.time() - self.epoch_ms / 1000.0) * self.speed

    def world_time(self, wall_s):
        """Scenario time (s since power-on of the world) of a board wall time."""
        return wall_s - self.start_s

    def power_cut(self, off_s=0.0):
        """Cut the power and switch on again: RTC memory is lost; flash, NVS and the
        physical world (its clock, meter registers) go on."""
        self.stop()
        time.sleep(off_s)
        self._resume = True
        return self.start()

    def start(self):
        self._stop = False
        self.prepare()
        if self.serial:
            self.start_serial()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        return self

    def start_serial(self):
        """A virtual serial port with a MicroPython REPL on the board's flash."""
        socat = shutil.which("socat")
        if not socat:
            raise SystemExit("socat is needed for --serial (apt-get install socat)")
        micropython = paths.venv_bin("micropython")
        env = self.environment()
        try:
            os.remove(self.serial)
        except OSError:
            pass
        self.serial_process = subprocess.Popen(
            [socat, "PTY,link=%s,raw,echo=0" % self.serial,
             "EXEC:%s -i,pty,raw,echo=0,stderr,setsid,ctty" % micropython],
            cwd=self.flash_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(50):
            if os.path.exists(self.serial):
                break
            time.sleep(0.1)

    def stop(self):
        self._stop = True
        for proc in (self.process, self.serial_process):
            if proc is not None and proc.poll() is None:
                self._kill(proc)
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self):
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)
        return self.exit_code
