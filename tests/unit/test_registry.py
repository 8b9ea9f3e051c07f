"""One registry shape for every seam: defining a named subclass registers it, and an
unknown name raises one error, naming the seam, the name and the known names."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from graceproof.disruptions import DISRUPTIONS, disruption_named
from graceproof.errors import OptionError, WorkloadSpecError
from graceproof.hooks import HOOKS, as_hook
from graceproof.ingress import CONTROLLERS, controller_named
from graceproof.placement import PLACEMENTS, InCluster, OnHost
from graceproof.registry import Registry, UnknownNameError
from graceproof.traffic import TRAFFIC_KINDS, traffic


@pytest.mark.parametrize(
    ("lookup", "seam", "known"),
    [
        (lambda: traffic("smtp"), "connection policy (traffic kind)", TRAFFIC_KINDS),
        (lambda: controller_named("smtp"), "ingress controller", CONTROLLERS),
        (lambda: disruption_named("smtp"), "disruption", DISRUPTIONS),
        (lambda: as_hook("smtp"), "variant", HOOKS),
        (lambda: PLACEMENTS.lookup("smtp"), "load placement", PLACEMENTS),
    ],
)
def test_every_seam_raises_one_error_for_an_unknown_name(
    lookup: Any, seam: str, known: Registry[Any]
) -> None:
    with pytest.raises(UnknownNameError) as err:
        lookup()
    assert (err.value.seam, err.value.name, err.value.known) == (seam, "smtp", known.names())
    assert str(err.value).startswith(f"unknown {seam} 'smtp'; known: ")
    assert ", ".join(known.names()) in str(err.value)
    # Still what each seam raised before, for callers that catch those.
    assert isinstance(err.value, WorkloadSpecError | OptionError | ValueError)
    assert isinstance(err.value, WorkloadSpecError) and isinstance(err.value, OptionError)


def test_the_placements_are_registered_by_their_kind() -> None:
    assert dict(PLACEMENTS) == {"cluster": InCluster, "host": OnHost}


def test_a_registry_warns_when_a_users_class_takes_a_taken_name_and_forgets_scratch_entries() -> (
    None
):
    reg: Registry[type] = Registry("thing", int)
    reg.register("a", int)
    reg.register("a", int)  # the same entry again: no change
    with pytest.warns(UserWarning, match="thing 'a': builtins.str replaces builtins.int"):
        reg.register("a", str)
    assert reg.lookup("a") is str
    with pytest.warns(UserWarning):
        reg.register("a", int)  # put back
    with reg.scratch():
        reg.register("b", str)
        assert reg.names() == ("a", "b") and reg.lookup("b") is str
    assert reg.names() == ("a",) and "b" not in reg and reg.get("b") is None
    fix = "To fix: choose one of them, or define a subclass of int of that name"
    with pytest.raises(UnknownNameError, match=fix):
        reg.lookup("b")


def test_a_subclass_that_keeps_its_parents_name_is_not_registered_again() -> None:
    class Base:
        name = ""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            reg.register_class(cls, "name")

    reg: Registry[type[Base]] = Registry("base", Base)

    class Named(Base):
        name = "named"

    class Tweaked(Named):
        pass

    assert dict(reg) == {"named": Named}
    assert Tweaked.name == "named"


def _define(name: str, module: str) -> type:
    return type(name, (), {"__module__": module})


def test_the_same_class_defined_again_replaces_the_old_without_a_word() -> None:
    # A class statement run twice: a parametrized test, a notebook cell, a reload.
    reg: Registry[type] = Registry("thing")
    first, again = _define("Mine", "tests.mine"), _define("Mine", "tests.mine")
    reg.register("mine", first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.register("mine", again)
    assert reg.lookup("mine") is again


def test_two_of_graceproofs_own_classes_under_one_name_are_a_bug() -> None:
    reg: Registry[type] = Registry("thing")
    reg.register("x", _define("One", "graceproof.one"))
    with pytest.raises(TypeError, match="thing 'x' is defined twice: One and Two"):
        reg.register("x", _define("Two", "graceproof.two"))
