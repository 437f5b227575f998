"""Test helpers: a real mosquitto broker, the emulated board, MQTT and HTTP clients."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt

from tools import paths
from tools.emulator.board import EmulatedBoard


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class Broker:
    """A real mosquitto on a free loopback port, for one test module."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mosq-")
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % self.port)
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(condition, timeout=30.0, every=0.1):
    """Poll condition() until it is true (True) or timeout seconds have passed (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


class Subscriber:
    """Collects every message on the given topic filters (paho-mqtt, a real client)."""

    def __init__(self, port, *filters):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-%d" % os.getpid())
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        for topic in filters:
            self.client.subscribe(topic)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode(), msg.retain, time.time()))

    def latest(self):
        with self.lock:
            out = {}
            for topic, payload, _retain, _t in self.messages:
                out[topic] = payload
            return out

    def values(self, topic):
        with self.lock:
            return [p for t, p, _r, _ts in self.messages if t == topic]

    def wait_for(self, predicate, timeout=30.0):
        return wait_until(lambda: predicate(self), timeout)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def get_json(port, path="/api/state?full=1", timeout=5.0):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_state(port, predicate, timeout=30.0):
    """Poll /api/state?full=1 until predicate(state) holds; returns the last state."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        try:
            state = get_json(port)
            if predicate(state):
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met within %.0f s; last state: %s" % (timeout, json.dumps(state)[:2000]))


_SESSION_BUILD = []


def session_build():
    """This test session's own mpy-cross build of the working tree.

    Tests boot this, not build/, so a `make build` running elsewhere (another
    terminal, another test run) can never swap files under a booting board.
    """
    if not _SESSION_BUILD:
        from tools.build import build
        out = os.path.join(tempfile.mkdtemp(prefix="hpmon-build-"), "build")
        build(out, update_repo_lib=False)
        _SESSION_BUILD.append(out)
    return _SESSION_BUILD[0]


def start_board(scenario, broker_port=None, heap="2M", state_dir=None, **kw):
    http_port = free_port()
    kw.setdefault("firmware_dir", session_build())
    state_dir = state_dir or tempfile.mkdtemp(prefix="hpmon-board-")
    log = open(os.path.join(state_dir, "console.log"), "a")
    board = EmulatedBoard(scenario, state_dir, http_port=http_port,
                          mqtt_host="127.0.0.1" if broker_port else None,
                          mqtt_port=broker_port or 1883, heap=heap, output=log, echo=False, **kw)
    board.start()
    board.console_path = log.name
    if not wait_port(http_port, timeout=20):
        board.stop()
        raise AssertionError("the emulated board never served HTTP:\n" + open(log.name).read()[-3000:])
    return board


def console(board):
    with open(board.console_path) as f:
        return f.read()


def write_scenario(path, base, **changes):
    """A scenario file from a base scenario (path) with top-level keys replaced."""
    with open(base) as f:
        scenario = json.load(f)
    scenario.update(changes)
    with open(path, "w") as f:
        json.dump(scenario, f)
    return path


def truth(board, path, wall_s):
    """The scenario's value of path at a wall-clock time, as the simulator computes it."""
    import sys
    if paths.SIM_DIR not in sys.path:
        sys.path.append(paths.SIM_DIR)
    import simworld
    world = simworld.World(board.scenario)
    track = world._track(path)
    return track.value(wall_s - board.epoch_ms / 1000.0)


def ap_password(board):
    """The access point's password, as the board printed it on its console (proof of ownership
    for the first admin password, firmware/web_login.py)."""
    import re
    found = re.findall(r"access point \S+ (?:up at \S+ \(password|password) ([a-z2-9]+)", console(board))
    assert found, console(board)[-2000:]
    return found[-1]
