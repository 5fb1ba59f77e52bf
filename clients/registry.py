"""Behaviours as small registered types with documented attributes and units (like Toxiproxy's toxics)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from clients.steps import ConnectOptions, Step

AttrValue = int | float | bool | str

UNITS = ("seconds", "milliseconds", "bytes", "count", "choice", "flag", "text")
MAX_DURATION_LIMIT_S = 3600.0


class BadArgument(ValueError):
    """A user error in the command line: reported as one line, exit code 2."""


@dataclass(frozen=True)
class Attribute:
    name: str
    unit: str  # one of UNITS; part of the documentation
    default: AttrValue
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def parse(self, text: str) -> AttrValue:
        """The typed value of ``--set name=text``; raises BadArgument."""
        value: AttrValue
        try:
            if self.unit == "flag":
                lowered = text.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                value = lowered in ("1", "true", "yes", "on")
            elif isinstance(self.default, bool):
                raise AssertionError("a bool attribute must use unit 'flag'")
            elif isinstance(self.default, int):
                value = int(text)
            elif isinstance(self.default, float):
                value = float(text)
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError(text)
            else:
                value = text
        except ValueError:
            raise BadArgument(f"attribute {self.name}: bad value {text!r} ({self.describe_type()})") from None
        self.check(value)
        return value

    def check(self, value: AttrValue) -> None:
        if self.choices and value not in self.choices:
            raise BadArgument(f"attribute {self.name}: {value!r} is not one of {', '.join(self.choices)}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise BadArgument(
                    f"attribute {self.name}: {value} is below the minimum {_number_text(self.minimum)}"
                )
            if self.maximum is not None and value > self.maximum:
                raise BadArgument(
                    f"attribute {self.name}: {value} is above the maximum {_number_text(self.maximum)}"
                )

    def describe_type(self) -> str:
        if self.choices:
            return "one of " + "|".join(self.choices)
        if self.unit == "flag":
            return "true|false"
        if self.unit == "text":
            return "text"
        kind = (
            "integer"
            if isinstance(self.default, int)
            else "number"
            if isinstance(self.default, float)
            else "text"
        )
        bounds = ""
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else _number_text(self.minimum)
            high = "" if self.maximum is None else _number_text(self.maximum)
            bounds = f" in [{low}, {high}]"
        return f"{kind}{bounds}, {self.unit}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "default": self.default,
            "doc": self.doc,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) or None,
        }


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def max_duration(default_s: float) -> Attribute:
    return Attribute(
        "max_duration_s",
        "seconds",
        float(default_s),
        "hard bound on each connection's lifetime and on the whole run",
        minimum=0.01,
        maximum=MAX_DURATION_LIMIT_S,
    )


class ConnectionView:
    """What a plan may look at while it runs (filled in by the executor)."""

    def __init__(self) -> None:
        self.bytes_received = 0
        self.responses_complete = 0
        self.peer_closed = False  # a stall saw the server's FIN or RST


@dataclass
class PlanContext:
    index: int  # connection index within the run
    rng: random.Random  # seeded from (seed, behaviour, index): the only source of randomness
    host: str  # value for the Host header: the target as given
    view: ConnectionView


class Behaviour:
    """Base class: subclasses set the class variables and implement ``plan``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    attributes: ClassVar[tuple[Attribute, ...]]  # must include max_duration(...)
    default_concurrency: ClassVar[int | None] = 16  # default --concurrency; None: all connections at once

    def __init__(self, values: Mapping[str, AttrValue]) -> None:
        self.values = dict(values)

    @classmethod
    def resolve(cls, overrides: Mapping[str, str]) -> dict[str, AttrValue]:
        """Defaults overlaid with ``--set`` strings; raises BadArgument for unknown names or bad values."""
        by_name = {attribute.name: attribute for attribute in cls.attributes}
        values: dict[str, AttrValue] = {name: attribute.default for name, attribute in by_name.items()}
        for name, text in overrides.items():
            if name not in by_name:
                known = ", ".join(sorted(by_name))
                raise BadArgument(f"behaviour {cls.name} has no attribute {name!r} (known: {known})")
            values[name] = by_name[name].parse(text)
        return values

    def expected_responses(self) -> int | None:
        """Complete responses one connection must get from a correct server, given the attributes.

        None: the behaviour cannot know (the lab's case must then say it).
        """
        return None

    def int(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int) and not isinstance(value, bool)
        return value

    def seconds(self, name: str) -> float:
        """A seconds attribute as float, or a milliseconds attribute converted to seconds."""
        value = self.values[name]
        assert isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) / 1000.0 if name.endswith("_ms") else float(value)

    def flag(self, name: str) -> bool:
        value = self.values[name]
        assert isinstance(value, bool)
        return value

    def text(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str)
        return value

    @property
    def max_duration_s(self) -> float:
        return self.seconds("max_duration_s")

    def validate(self) -> None:
        """Checks across attributes; raises BadArgument."""

    def connect_options(self) -> ConnectOptions:
        return ConnectOptions()

    def plan(self, context: PlanContext) -> Iterator[Step]:
        raise NotImplementedError


_REGISTRY: dict[str, type[Behaviour]] = {}


def register(cls: type[Behaviour]) -> type[Behaviour]:
    names = [attribute.name for attribute in cls.attributes]
    assert "max_duration_s" in names, f"{cls.name}: every behaviour is bounded by max_duration_s"
    assert len(set(names)) == len(names), f"{cls.name}: duplicate attribute"
    assert all(attribute.unit in UNITS for attribute in cls.attributes), f"{cls.name}: unknown unit"
    assert cls.name not in _REGISTRY, f"duplicate behaviour {cls.name}"
    _REGISTRY[cls.name] = cls
    return cls


def all_behaviours() -> list[type[Behaviour]]:
    import clients.behaviours  # noqa: F401  (registers the behaviours on import)

    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_behaviour(name: str) -> type[Behaviour]:
    known = {cls.name: cls for cls in all_behaviours()}
    if name not in known:
        raise BadArgument(f"unknown behaviour {name!r} (try: python -m clients list)")
    return known[name]


def connection_rng(seed: int, behaviour: str, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by random.Random: stable across processes and PYTHONHASHSEED.
    return random.Random(f"{seed}/{behaviour}/{index}")
