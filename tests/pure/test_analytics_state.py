"""Heat-pump state machine: starts with hysteresis and minimum off time, defrost, DHW."""
from firmware.analytics_state import (
    DEFROST,
    DHW,
    EV_DEFROST,
    EV_DEFROST_END,
    EV_START,
    EV_STOP,
    OFF,
    RUNNING,
    STANDBY,
    DhwFlowRule,
    StateMachine,
)


def run(sm, readings, dt=10):
    """Feeds (elec, heat[, dhw]) tuples; returns (events list, states list)."""
    evs, states = [], []
    for r in readings:
        dhw = r[2] if len(r) > 2 else False
        evs.append(sm.step(dt, r[0], r[1], dhw))
        states.append(sm.state)
    return evs, states


def count(evs, bit):
    return len([e for e in evs if e & bit])


def test_off_standby_running():
    sm = StateMachine()
    evs, states = run(sm, [(3, 0), (40, 0), (800, 2500)])
    assert states == [OFF, STANDBY, RUNNING]
    assert evs == [0, 0, EV_START]


def test_short_dip_is_not_a_new_start():
    sm = StateMachine()  # min_off_s 60: six 10 s readings below 130 W stop it
    seq = [(800, 2500)] + [(100, 0)] * 5 + [(800, 2500)] + [(100, 0)] * 6 + [(800, 2500)]
    evs, states = run(sm, seq)
    assert count(evs, EV_START) == 2
    assert count(evs, EV_STOP) == 1
    assert evs[12] == EV_STOP and states[12] == STANDBY
    assert states[5] == RUNNING  # still running during the 50 s dip


def test_hysteresis_holds_between_thresholds():
    sm = StateMachine(starting_power_w=150, hysteresis_w=20, min_off_s=0)
    evs, states = run(sm, [(149, 0), (150, 0), (131, 0), (130, 0), (129, 0), (149, 0), (150, 0)])
    assert evs == [0, EV_START, 0, 0, EV_STOP, 0, EV_START]
    assert states[3] == RUNNING and states[5] == STANDBY


def test_min_on_time_confirms_a_start():
    sm = StateMachine(min_on_s=30)
    evs, _ = run(sm, [(500, 0), (500, 0), (60, 0), (500, 0), (500, 0), (500, 0)])
    assert evs == [0, 0, 0, 0, 0, EV_START]


def test_one_defrost_with_noisy_tail_counts_once():
    sm = StateMachine()  # defrost below -200 W, ends after 60 s at heat >= 0
    seq = ([(900, 3000), (900, -300), (900, -50)] + [(900, 100)] * 5 + [(900, -400)]
           + [(900, 100)] * 6 + [(900, 3000)])
    evs, states = run(sm, seq)
    assert count(evs, EV_DEFROST) == 1
    assert evs[1] == EV_DEFROST and states[1] == DEFROST
    assert states[8] == DEFROST  # heat went negative again before 60 s of thaw
    assert evs[14] == EV_DEFROST_END and states[14] == RUNNING


def test_small_negative_heat_or_compressor_off_is_not_defrost():
    sm = StateMachine()
    evs, states = run(sm, [(900, -150), (40, -600), (40, -600)])
    assert count(evs, EV_DEFROST) == 0
    assert states == [RUNNING, RUNNING, RUNNING]  # still in the min-off window
    sm = StateMachine(min_off_s=0)
    evs, states = run(sm, [(40, -600)])
    assert states == [STANDBY] and evs == [0]


def test_compressor_stop_ends_defrost():
    sm = StateMachine(min_off_s=0)
    evs, states = run(sm, [(900, -900), (20, -100)])
    assert evs == [EV_START | EV_DEFROST, EV_STOP | EV_DEFROST_END]
    assert states == [DEFROST, STANDBY]


def test_dhw_state_and_defrost_priority():
    sm = StateMachine()
    _, states = run(sm, [(1200, 4000, True), (1200, -900, True), (30, 0, True)])
    assert states == [DHW, DEFROST, DEFROST]


def test_missing_elec_holds_state():
    sm = StateMachine(min_off_s=0)
    evs, states = run(sm, [(900, 3000), (None, None), (None, 3000)])
    assert states == [RUNNING, RUNNING, RUNNING]
    assert evs == [EV_START, 0, 0]


def test_restore_continues_a_run_without_a_start():
    sm = StateMachine()
    sm.restore(True, False)
    evs, states = run(sm, [(900, 3000)])
    assert evs == [0] and states == [RUNNING]


def test_bad_thresholds_rejected():
    for kw in ({"hysteresis_w": 150}, {"hysteresis_w": -1}, {"off_w": -1}):
        try:
            StateMachine(**kw)
        except ValueError:
            continue
        raise AssertionError(kw)


def test_dhw_flow_rule_hysteresis():
    rule = DhwFlowRule(50.0, 45.0)
    flags = [rule.update(t) for t in (40.0, 51.0, 47.0, None, 44.9, 48.0)]
    assert flags == [False, True, True, True, False, False]
