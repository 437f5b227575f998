"""CPython stand-in for MicroPython's `micropython` module (tests only)."""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def schedule(func, arg):
    func(arg)
