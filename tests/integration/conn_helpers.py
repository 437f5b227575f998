"""Helpers of the connectivity tests: a mosquitto that can be stopped, frozen and
started again on the same port (optionally with passwords or TLS), a recording
emoncms stand-in (Python's http.server), and scenario files for them."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import free_port, wait_port, wait_until
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")


class ControlledBroker:
    """mosquitto on a fixed loopback port: start(), stop() (a crash), freeze()/thaw()
    (SIGSTOP/SIGCONT: a dead link, the TCP peer silent), users via mosquitto_passwd."""

    def __init__(self, port=None, users=None, tls=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mosq-")
        os.chmod(self.dir, 0o755)  # mosquitto started as root reads its files as user mosquitto
        self.process = None
        lines = ["listener %d 127.0.0.1" % self.port, "persistence false"]
        if users:
            pwfile = os.path.join(self.dir, "passwd")
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pwfile, user, password],
                               check=True, capture_output=True)
            os.chmod(pwfile, 0o644)
            lines += ["allow_anonymous false", "password_file " + pwfile]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += ["cafile " + tls["ca"], "certfile " + tls["cert"], "keyfile " + tls["key"]]
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", self.conf], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError("mosquitto did not start")
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def freeze(self):
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Emoncms:
    """Records every request like emoncms' input API would see it; answers "ok",
    or 503 while `down` is set."""

    def __init__(self):
        self.requests = []
        self.down = False
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                url = urllib.parse.urlsplit(self.path)
                entry = {"path": url.path, "query": url.query, "headers": dict(self.headers),
                         "form": dict(urllib.parse.parse_qsl(body, keep_blank_values=True)), "body": body,
                         "t": time.time(), "down": outer.down}
                with outer.lock:
                    outer.requests.append(entry)
                if outer.down:
                    self.send_response(503)
                    reply = b"Service Unavailable"
                elif self.headers.get("Authorization") != "Bearer " + outer.apikey:
                    self.send_response(200)
                    reply = b'{"success": false, "message": "Username or password empty"}'
                else:
                    self.send_response(200)
                    reply = b"ok" if url.path.endswith("/bulk") else b'{"success": true}'
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.apikey = "0123456789abcdef0123456789abcdef"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self):
        """[(time, {name: value})] of every accepted reading, in arrival order."""
        out = []
        with self.lock:
            reqs = list(self.requests)
        for r in reqs:
            if r["down"]:
                continue
            if r["path"].endswith("/input/post"):
                out.append((int(r["form"]["time"]), json.loads(r["form"]["fulljson"])))
            elif r["path"].endswith("/input/bulk"):
                for t, _node, values in json.loads(r["form"]["data"]):
                    out.append((t, values))
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def scenario(path, config=None, faults=None, timeline=None, wifi=None, pins=None):
    """The default scenario with config keys merged in, faults set and timeline events added."""
    with open(DEFAULT) as f:
        sc = json.load(f)
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(sc["config"].get(key), dict):
            sc["config"][key].update(value)
        else:
            sc["config"][key] = value
    wifi_cfg = sc["config"].get("wifi")
    if wifi_cfg is not None and "ssid" not in wifi_cfg:  # the emulator only fills a missing "wifi"
        wifi_cfg.update(ssid=sc["wifi"]["networks"][0]["ssid"], key=sc["wifi"]["networks"][0]["key"])
    if faults is not None:
        sc["faults"] = faults
    if timeline:
        sc["timeline"] = sc.get("timeline", []) + timeline
    if wifi:
        sc["wifi"].update(wifi)
    if pins:
        sc["pins"] = pins
    with open(path, "w") as f:
        json.dump(sc, f)
    return path


def gaps(times, interval):
    """Gaps (seconds) between consecutive distinct times longer than 1.5 intervals."""
    ts = sorted(set(times))
    return [(a, b) for a, b in zip(ts, ts[1:]) if b - a > interval * 1.5 + 1]


class Sub:
    """A paho-mqtt client that (re)subscribes on every connect, so it survives a broker restart."""

    _n = [0]

    def __init__(self, port, *filters, user=None, password=None, tls_ca=None):
        import paho.mqtt.client as mqtt
        self._n[0] += 1
        self.messages = []
        self.lock = threading.Lock()
        self.filters = filters
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-%d-%d" % (os.getpid(), self._n[0]))
        if user:
            self.client.username_pw_set(user, password)
        if tls_ca:
            self.client.tls_set(ca_certs=tls_ca)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc, props=None):
        for topic in self.filters:
            client.subscribe(topic)

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace"), msg.retain, time.time()))

    def all(self, topic=None, prefix=None):
        with self.lock:
            return [m for m in self.messages
                    if (topic is None or m[0] == topic) and (prefix is None or m[0].startswith(prefix))]

    def values(self, topic):
        return [m[1] for m in self.all(topic)]

    def wait_for(self, predicate, timeout=30.0):
        return wait_until(lambda: predicate(self), timeout)

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, retain=retain).wait_for_publish(5)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def make_ca(directory, name="hpmon test CA"):
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=directory)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=" + name)
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o644)
    return {"ca": os.path.join(directory, "ca.pem"), "cert": os.path.join(directory, "server.pem"),
            "key": os.path.join(directory, "server.key")}
