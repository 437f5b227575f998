"""The emulator's onewire/ds18x20 expose the public API of MicroPython's frozen drivers.

Compared, by AST, with the micropython-esp32-stubs (.pyi) that describe the frozen modules:
every public class, method, parameter name and default must match.
"""
import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "tools", "emulator", "sim")


def _stub(name):
    for base in sys.path + [os.path.join(ROOT, "typings")]:
        path = os.path.join(base, name + ".pyi")
        if os.path.isfile(path):
            return path
    pytest.skip("micropython-esp32-stubs not installed")


def _api(path):
    """{qualified public name: (param names, default reprs)} plus public constants."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = {}

    def func(node, prefix):
        args = node.args
        names = tuple(a.arg for a in args.args)
        defaults = tuple(ast.dump(d) for d in args.defaults)
        out[prefix + node.name] = (names, defaults)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            func(node, "")
        elif isinstance(node, ast.ClassDef):
            out[node.name] = "class"
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (item.name == "__init__" or not item.name.startswith("_")):
                    func(item, node.name + ".")
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    for stmt in ast.walk(item):  # instance attributes: self.x = ...
                        if isinstance(stmt, ast.Assign):
                            for t in stmt.targets:
                                if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                        and t.value.id == "self" and not t.attr.startswith("_")):
                                    out[node.name + "." + t.attr] = "attr"
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    target = item.targets[0] if isinstance(item, ast.Assign) else item.target
                    if isinstance(target, ast.Name) and not target.id.startswith("_"):
                        out[node.name + "." + target.id] = "attr"
    return out


@pytest.mark.parametrize("module", ["onewire", "ds18x20"])
def test_public_api_matches_frozen_stub(module):
    expected = _api(_stub(module))
    got = _api(os.path.join(SIM, module + ".py"))
    assert expected, "empty stub"
    for name, shape in expected.items():
        assert name in got, name
        assert got[name] == shape, name
    extra = sorted(set(got) - set(expected))
    assert extra == [], "public names the frozen driver lacks: %s" % extra
