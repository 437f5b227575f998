"""Analog front end of the emulated board: the voltage at an ADC pin, in mV.

Which signal sits on which GPIO follows the default pin map (hardware/pinout.md);
a scenario may rewire with "adc_pins": {"<gpio>": "vac"|"ct1".."ct3"|"vfs_flow"|"vfs_temp"}.
"""
import simworld

DEFAULT_ADC_PINS = {36: "vac", 39: "ct1", 34: "ct2", 35: "ct3", 32: "vfs_flow", 33: "vfs_temp"}

_pins = None


def _signal_for(gpio):
    global _pins
    if _pins is None:
        _pins = dict(DEFAULT_ADC_PINS)
        custom = simworld.world().scenario.get("adc_pins")
        if custom:
            _pins = {int(k): v for k, v in custom.items()}
    return _pins.get(gpio)


def _vfs_mv(world, what):
    """Grundfos VFS: 0.5 V = 0 L/min to 3.5 V = Qmax, linear (as firmware/vfs.py reads it); below
    Qmin no vortices shed and the output sits at its 0.5 V zero level. Then the board's divider."""
    if world.fault("vfs_unplugged"):
        return 0.0
    divider = world.get("vfs.divider", 0.66)
    if what == "vfs_flow":
        lo = world.get("vfs.range_lpm.0", 2.0)
        hi = world.get("vfs.range_lpm.1", 40.0)
        flow = world.get("vfs.flow_lpm", 0.0)
        volts = 0.5 + 3.0 * flow / hi if flow >= lo and hi > 0 else 0.5
    else:
        temp = world.get("vfs.temp_c", 20.0)
        volts = 0.5 + 3.0 * temp / 100.0
    return volts * 1000.0 * divider


def millivolts(gpio, t_us):
    world = simworld.world()
    signal = _signal_for(gpio)
    if signal is None:
        return 0.0
    if signal.startswith("vfs"):
        return _vfs_mv(world, signal)
    try:
        import sim_waveforms
    except ImportError:
        sim_waveforms = None
    if sim_waveforms is not None:
        return sim_waveforms.millivolts(world, signal, t_us)
    return 1650.0  # mid-rail bias with no waveform model
