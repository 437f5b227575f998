"""Heat-pump operating state (pure): off / standby / running / defrost / DHW, with events.

Thresholds and their reasons (config `analytics.*`, defaults in brackets):
- compressor ON when elec >= starting_power_w [150 W, the emoncms My Heatpump default] for at
  least min_on_s [0 s: the first reading counts, as emoncms counts 0->1 transitions];
- compressor OFF when elec < starting_power_w - hysteresis_w [20 W] for at least min_off_s
  [60 s]. Compressor anti-short-cycle timers keep real off periods at minutes, so a dip shorter
  than a minute (defrost valve change, a missed CT burst) is not a new start;
- off (unit unpowered or breaker open) when elec < off_w [5 W], standby otherwise;
- defrost while the compressor is on and heat < -defrost_w [200 W, above the ~140 W that a
  0.1 K flow/return sensor error gives at 20 l/min], ending after heat >= 0 for defrost_exit_s
  [60 s] so one defrost with a noisy tail counts once;
- DHW while the compressor is on and the DHW signal is set (defrost wins).
A reading with elec None holds the previous state (unknown is not off). Energy splits
(running vs standby) use the plain per-reading test elec >= starting_power_w, as emoncms does;
this machine only decides states and counts starts/defrosts.
"""

OFF = 0
STANDBY = 1
RUNNING = 2
DEFROST = 3
DHW = 4
STATE_NAMES = ("off", "standby", "running", "defrost", "dhw")

EV_START = 1  # compressor started
EV_STOP = 2  # compressor stopped (after min_off_s below the off threshold)
EV_DEFROST = 4  # a defrost began
EV_DEFROST_END = 8


class StateMachine:
    def __init__(self, starting_power_w=150, hysteresis_w=20, off_w=5, min_on_s=0, min_off_s=60,
                 defrost_w=200, defrost_exit_s=60):
        if hysteresis_w < 0 or hysteresis_w >= starting_power_w or off_w < 0:
            raise ValueError("bad state thresholds")
        self.on_w = starting_power_w
        self.off_w_run = starting_power_w - hysteresis_w
        self.off_w = off_w
        self.min_on_s = min_on_s
        self.min_off_s = min_off_s
        self.defrost_w = defrost_w
        self.defrost_exit_s = defrost_exit_s
        self.state = OFF
        self.compressor = False
        self.defrost = False
        self._above_s = 0.0
        self._below_s = 0.0
        self._thaw_s = 0.0

    def restore(self, compressor, defrost):
        """Continue a run across a soft reboot (no new start is counted for it)."""
        self.compressor = bool(compressor)
        self.defrost = bool(compressor and defrost)
        self.state = DEFROST if self.defrost else (RUNNING if self.compressor else STANDBY)

    def step(self, dt_s, elec_w, heat_w, dhw=False):
        """One reading (values held over the dt_s seconds before it). Returns EV_* bits."""
        ev = 0
        if elec_w is None:
            return ev
        if not self.compressor:
            if elec_w >= self.on_w:
                self._above_s += dt_s
                if self._above_s >= self.min_on_s:
                    self.compressor = True
                    self._below_s = 0.0
                    ev |= EV_START
            else:
                self._above_s = 0.0
        elif elec_w < self.off_w_run:
            self._below_s += dt_s
            if self._below_s >= self.min_off_s:
                self.compressor = False
                self._above_s = 0.0
                ev |= EV_STOP
        else:
            self._below_s = 0.0
        if self.compressor and heat_w is not None:
            if not self.defrost:
                if heat_w < -self.defrost_w and elec_w >= self.off_w_run:
                    self.defrost = True
                    self._thaw_s = 0.0
                    ev |= EV_DEFROST
            elif heat_w >= 0:
                self._thaw_s += dt_s
                if self._thaw_s >= self.defrost_exit_s:
                    self.defrost = False
                    ev |= EV_DEFROST_END
            else:
                self._thaw_s = 0.0
        if not self.compressor and self.defrost:
            self.defrost = False
            ev |= EV_DEFROST_END
        if self.compressor:
            self.state = DEFROST if self.defrost else (DHW if dhw else RUNNING)
        else:
            self.state = OFF if elec_w < self.off_w else STANDBY
        return ev


class DhwFlowRule:
    """DHW flag from the flow temperature: on above on_above_c, off below off_below_c."""

    def __init__(self, on_above_c=50.0, off_below_c=45.0):
        if off_below_c > on_above_c:
            raise ValueError("DHW rule: off_below_c above on_above_c")
        self.on = on_above_c
        self.off = off_below_c
        self.flag = False

    def update(self, flow_t):
        if flow_t is not None:
            if flow_t > self.on:
                self.flag = True
            elif flow_t < self.off:
                self.flag = False
        return self.flag
