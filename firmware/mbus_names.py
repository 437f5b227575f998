# Names for the quantity and unit codes of mbus_vif (index = code). Spelling follows
# libmbus's normalised output so that host tools and tests compare directly. Imported only
# when a name is needed (Record.quantity / Record.unit), to keep the strings off the heap of
# a board that only publishes numbers.
# Licence: GPL-3.0-or-later.
"""Quantity and unit names of M-Bus records."""

QUANTITY = (
    "", "Energy", "Volume", "Mass", "On time", "Operating time", "Power", "Volume flow",
    "Mass flow", "Flow temperature", "Return temperature", "Temperature difference",
    "External temperature", "Pressure", "Time point (date)", "Time point (date & time)",
    "H.C.A.", "Reserved", "Averaging Duration", "Actuality Duration", "Fabrication No",
    "(Enhanced) Identification", "Bus Address", "Any VIF", "Manufacturer specific", "Unknown",
    "Credit", "Debit",
    # 28..55: FD 0x08..0x23
    "Access Number", "Medium", "Manufacturer", "Parameter set identification",
    "Model / Version", "Hardware version", "Firmware version", "Software version",
    "Customer location", "Customer", "Access code user", "Access code operator",
    "Access code system operator", "Access code developer", "Password", "Error flags",
    "Error mask", "Reserved", "Digital Output", "Digital Input",
    "Baudrate", "Response delay time", "Retry", "Remote control",
    "First storage # for cyclic storage", "Last storage # for cyclic storage",
    "Size of storage block", "Reserved",
    # 56..
    "Storage interval", "Time point (second)", "Duration since last readout",
    "Start of tariff", "Duration of tariff", "Period of tariff", "Dimensionless",
    "Voltage", "Current",
    # 65..72: FD 0x60..0x67
    "Reset counter", "Cumulation counter", "Control signal", "Day of week", "Week number",
    "Time point of day change", "State of parameter activation",
    "Special supplier information",
    # 73..
    "Operating time battery", "Duration since last cumulation",
    "Date and time of battery change",
    # 76..81: FD 0x71..0x76
    "RF level", "Daylight saving", "Listening window management", "Remaining battery life",
    "Number of times the meter was stopped", "Data container",
    # 82..: FB table and fixed format
    "Reactive energy", "Reactive power", "Relative humidity", "Phase U-U", "Phase U-I",
    "Frequency", "Apparent power", "Temperature limit", "Cumulative count max power",
    "Temperature", "Time",
)

UNIT = (
    "", "Wh", "J", "m^3", "kg", "s", "W", "J/h", "m^3/h", "m^3/min", "m^3/s", "kg/h",
    "\u00b0C", "K", "bar", "-", "Units for H.C.A.", "Reserved", "Baud", "bittimes", "month",
    "year", "V", "A", "dBm", "VARh", "VAR", "%", "feet^3", "deg", "Hz", "VA", "\u00b0F",
)
