"""One registry for every seam: names to the classes that implement it.

Each seam (traffic kinds, ingress controllers, disruptions, preStop hooks, load
placements, workload kinds) keeps one `Registry` beside its base class, and the base
class registers each subclass that sets a name when it is defined:

    DISRUPTIONS: Registry[type[Disruption]] = Registry("disruption", Disruption)

    class Disruption(ABC):
        kind: ClassVar[str]
        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            DISRUPTIONS.register_class(cls, "kind")

A registry reads as a mapping (`sorted(DISRUPTIONS)`, `"evict" in DISRUPTIONS`);
`lookup` of an unknown name raises `UnknownNameError`, the same for every seam, naming
the seam, the name and the known names.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from graceproof.errors import OptionError, WorkloadSpecError

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(WorkloadSpecError, OptionError):
    """A seam was asked for a name nobody registered. A WorkloadSpecError and an
    OptionError (both ValueErrors), as the seams raised before they shared one
    registry, so that callers catching either still do."""

    def __init__(self, seam: str, name: str, known: Sequence[str], extend: str = "") -> None:
        self.seam = seam
        self.name = name
        self.known = tuple(known)
        fix = "choose one of them" + (f", or define {extend} of that name" if extend else "")
        known_text = ", ".join(self.known) or "none"
        super().__init__(f"unknown {seam} {name!r}; known: {known_text}. To fix: {fix}")


class Registry(Mapping[str, T]):
    """Names to entries (classes, mostly) of one seam, in the order they registered."""

    def __init__(self, seam: str, base: type | None = None) -> None:
        self.seam = seam
        """What the names name, in messages: "disruption", "traffic kind"."""
        self._extend = f"a subclass of {base.__name__}" if base is not None else ""
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add `entry` as `name`. Registering the same entry again is a no-op, and so is
        the same class defined again (a parametrized test, a notebook cell run twice):
        the new definition replaces the old. Two of graceproof's own classes under one
        name are a TypeError (a bug); a user's class that takes a taken name replaces
        it, with a warning naming both, so test modules that each define the README's
        example do not fail at import."""
        known = self._entries.get(name)
        if known is not None and known is not entry and not _same_definition(known, entry):
            if _ours(known) and _ours(entry):
                raise TypeError(
                    f"{self.seam} {name!r} is defined twice: {_label(known)} and "
                    f"{_label(entry)}; give the new one another name"
                )
            warnings.warn(
                f"{self.seam} {name!r}: {_where(entry)} replaces {_where(known)} under that "
                "name; give one of them another name to keep both",
                stacklevel=4,
            )
        self._entries[name] = entry
        return entry

    def register_class(self, cls: T, attribute: str) -> None:
        """What a base class's `__init_subclass__` calls: registers `cls` under the name
        its class attribute `attribute` sets. A class that sets none is not registered:
        an abstract intermediate, or a subclass of a registered class that keeps its
        name (the name still gives the class that set it)."""
        name = vars(cls).get(attribute)
        if name:
            self.register(str(name), cls)

    def lookup(self, name: str) -> T:
        """The entry called `name`; UnknownNameError naming the known ones otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.seam, name, self.names(), self._extend) from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, in the order they registered."""
        return tuple(self._entries)

    @contextmanager
    def scratch(self) -> Iterator[Registry[T]]:
        """Entries registered inside the block are forgotten after it: for tests that
        define a class of their own without leaving it in the seam."""
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries = saved

    def __getitem__(self, name: str) -> T:
        # KeyError, as a mapping's: get() and `in` rely on it. lookup() explains.
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.seam!r}: {', '.join(self._entries)})"


def _label(entry: Any) -> str:
    return str(getattr(entry, "__qualname__", entry))


def _where(entry: Any) -> str:
    return f"{getattr(entry, '__module__', '?')}.{_label(entry)}"


def _same_definition(a: Any, b: Any) -> bool:
    """The same class statement run again: same module, same qualified name."""
    return _where(a) == _where(b)


def _ours(entry: Any) -> bool:
    return str(getattr(entry, "__module__", "")).split(".")[0] == "graceproof"
