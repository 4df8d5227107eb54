"""Every primitive has a vmap rule, and a test that checks it against a loop.

The primitive classes are read from csrc/pullback/primitives/*.h; each must declare `vmap` and
appear in the VMAP_COVERED set of some tests/python/test_vmap_*.py module."""

import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADERS = sorted((ROOT / "csrc" / "pullback" / "primitives").glob("*.h"))
CLASS = re.compile(r"^class (\w+) : public (\w+)", re.M)


def primitive_classes():
    """{class name: its body} for every class derived (directly or not) from Primitive."""
    bodies, bases = {}, {}
    for header in HEADERS:
        text = header.read_text()
        for m in CLASS.finditer(text):
            end = text.index("\n};", m.end())
            bodies[m.group(1)] = text[m.end():end]
            bases[m.group(1)] = m.group(2)

    def is_primitive(name):
        while name in bases:
            name = bases[name]
        return name == "Primitive"

    return {n: b for n, b in bodies.items() if is_primitive(n) and n != "UnaryPrimitive"}


def covered():
    names = set()
    for path in sorted(pathlib.Path(__file__).parent.glob("test_vmap_*.py")):
        if path.stem == "test_vmap_registry":
            continue
        names |= set(getattr(importlib.import_module(path.stem), "VMAP_COVERED", ()))
    return names


def test_headers_found():
    classes = primitive_classes()
    assert len(classes) >= 40 and "Matmul" in classes and "Binary" in classes


@pytest.mark.parametrize("name", sorted(primitive_classes()))
def test_primitive_has_a_vmap_rule(name):
    assert re.search(r"\bvmap\(", primitive_classes()[name]), (
        f"primitive {name} declares no vmap rule")


@pytest.mark.parametrize("name", sorted(primitive_classes()))
def test_primitive_vmap_rule_is_tested(name):
    assert name in covered(), (
        f"no tests/python/test_vmap_*.py lists {name} in VMAP_COVERED")
