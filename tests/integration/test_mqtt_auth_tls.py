"""MQTT user/password and TLS on the emulated board, three boards at once: TLS with the
right CA and password, the wrong password, and a CA that did not sign the broker."""
import json
import os
import tempfile

import pytest

from tests.helpers import console, get_json, start_board, wait_state
from tests.integration.conn_helpers import ControlledBroker, Sub, make_ca, scenario

USERS = {"hpmon": "right-pass", "tester": "tester-pass"}


@pytest.fixture(scope="module")
def env():
    work = tempfile.mkdtemp(prefix="tls-")
    os.chmod(work, 0o755)
    tls = make_ca(os.path.join(work, "good"))
    other = make_ca(os.path.join(work, "other"), "some other CA")
    tls_broker = ControlledBroker(users=USERS, tls=tls).start()
    plain_broker = ControlledBroker(users=USERS).start()
    with open(tls["ca"]) as f:
        ca_pem = f.read()
    with open(other["ca"]) as f:
        other_pem = f.read()
    base = {"interval_s": 5}

    def board(name, broker, mqtt):
        path = scenario(os.path.join(work, name + ".json"), config=dict(base, mqtt=dict(mqtt, retry_max_s=5)))
        return start_board(path, broker_port=broker.port)

    boards = {}
    try:
        boards["tls"] = board("tls", tls_broker, {"user": "hpmon", "password": USERS["hpmon"], "tls": True,
                                                  "ca_cert": ca_pem})
        boards["wrong_password"] = board("wrong", plain_broker, {"user": "hpmon", "password": "wrong-pass"})
        boards["wrong_ca"] = board("wrong_ca", tls_broker, {"user": "hpmon", "password": USERS["hpmon"],
                                                            "tls": True, "ca_cert": other_pem})
        yield {"boards": boards, "tls": tls, "tls_broker": tls_broker}
    finally:
        for b in boards.values():
            b.stop()
        tls_broker.close()
        plain_broker.close()


def test_tls_with_the_broker_ca_and_password_publishes(env):
    board = env["boards"]["tls"]
    sub = Sub(env["tls_broker"].port, "hpmon/#", "emon/#", user="tester", password=USERS["tester"],
              tls_ca=env["tls"]["ca"])
    try:
        st = wait_state(board.http_port, lambda s: s.get("mqtt", {}).get("connected"), timeout=30)
        assert "(TLS)" in console(board)
        assert sub.wait_for(lambda s: s.values("hpmon/hpmon/state"), timeout=15)
        state = json.loads(sub.values("hpmon/hpmon/state")[-1])
        assert state["time"] and state["heatpump_flowT"] > 0
        assert sub.values("hpmon/hpmon/status")[-1] == "online"
        assert st["mqtt"]["failures"] == 0
    finally:
        sub.stop()


def test_wrong_password_is_reported_and_retried_with_backoff(env):
    board = env["boards"]["wrong_password"]
    st = wait_state(board.http_port, lambda s: s.get("mqtt", {}).get("failures", 0) >= 3, timeout=40)
    assert st["mqtt"]["connected"] is False
    assert "not authorised" in st["mqtt"]["error"] or "bad user name" in st["mqtt"]["error"], st["mqtt"]
    assert st["mqtt"]["failures"] <= 8  # backing off (2, 4, 5, 5 ... s), not hammering the broker
    assert st["forward"]["mqtt"]["pending"] >= 1  # readings kept for when it works
    assert st["channels"]["heatpump_flowT"]["status"] == "ok"  # measuring goes on
    assert "Traceback" not in console(board)


def test_a_broker_certificate_from_another_ca_is_refused(env):
    board = env["boards"]["wrong_ca"]
    st = wait_state(board.http_port, lambda s: s.get("mqtt", {}).get("failures", 0) >= 2, timeout=40)
    assert st["mqtt"]["connected"] is False and st["mqtt"]["connects"] == 0
    assert st["mqtt"]["error"], st["mqtt"]
    assert get_json(board.http_port)["forward"]["mqtt"]["pending"] >= 1
    assert "Traceback" not in console(board)
