"""Training configuration as plain frozen dataclasses: one per job, none of them imports absl.

A job's configuration is a subclass of `coretf.jobs.base.TrainConfig` whose fields are declared
with `option(default, help, ...)`. The field's help text and its allowed values live beside it,
so one declaration gives the attribute, its validation (`Config.__post_init__`) and, through
`coretf.flags`, its command-line flag of the same name:

    @dataclasses.dataclass(frozen=True)
    class CoresConfig(TrainConfig):
        architecture: str = option("segnet", "Network architecture.", choices=MODELS)
        depth: int = option(4, "Pooling levels.", minimum=1)

Errors name the flag, e.g. `--architecture='vgg': must be one of segnet, unet, fcn8`. Sequences are
tuples (a list from JSON is accepted and turned into a tuple), so configurations are hashable
and `dataclasses.replace` works on them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from typing import Any


def option(default: Any, help: str, *, choices: Sequence[Any] | None = None,
           minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, below: float | None = None) -> Any:
    """A configuration field: its default, its help text and the values it may take.

    Args:
        default: the job's default (an immutable value: None, a scalar or a tuple).
        help: one sentence for `--help`.
        choices: the allowed values (of each element, for a tuple field).
        minimum, maximum: inclusive bounds of a number.
        above, below: exclusive bounds of a number.
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": tuple(choices) if choices is not None else None,
        "minimum": minimum, "maximum": maximum, "above": above, "below": below})


def fields(config_class: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    """{name: (field, resolved type)} of a configuration dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(config_class)}


def element_type(annotation: Any) -> tuple[Any, bool, bool]:
    """(scalar type, is a tuple, may be None) of a field annotation such as `tuple[int, ...] | None`."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        (annotation,) = [a for a in args if a is not type(None)]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True, optional
    return annotation, False, optional


def _describe(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)


def _bounds_error(name: str, value: Any, meta: dict) -> str | None:
    low, high = meta["minimum"], meta["maximum"]
    above, below = meta["above"], meta["below"]
    if isinstance(value, float) and not math.isfinite(value):
        return f"--{name}={value}: must be a finite number"
    if above is not None and below is not None and not above < value < below:
        return f"--{name}={value}: must be in ({above:g}, {below:g})"
    if above is not None and high is not None and not above < value <= high:
        return f"--{name}={value}: must be in ({above:g}, {high:g}]"
    if low is not None and high is not None and not low <= value <= high:
        return f"--{name}={value}: must be in [{low:g}, {high:g}]"
    if low is not None and value < low:
        return f"--{name}={value}: must be >= {low:g}"
    if above is not None and value <= above:
        return f"--{name}={value}: must be > {above:g}"
    if high is not None and value > high:
        return f"--{name}={value}: must be <= {high:g}"
    if below is not None and value >= below:
        return f"--{name}={value}: must be < {below:g}"
    return None


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of the configuration dataclasses: checks every `option` field after construction.

    Subclasses add cross-field checks in their own `__post_init__` (calling this one first).
    """

    def __post_init__(self):
        for name, (field, annotation) in fields(type(self)).items():
            value = getattr(self, name)
            scalar, is_tuple, _ = element_type(annotation)
            if is_tuple and isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, name, value)
            if value is None:
                continue
            meta = field.metadata
            if not meta:
                continue
            values = value if is_tuple else (value,)
            choices = meta["choices"]
            if choices is not None:
                bad = [v for v in values if v not in choices]
                if bad:
                    allowed = ", ".join(map(str, choices))
                    raise ValueError(f"--{name}={_describe(value)}: unknown {bad}; allowed {allowed}"
                                     if is_tuple else f"--{name}={value!r}: must be one of {allowed}")
            if scalar in (int, float):
                for v in values:
                    error = _bounds_error(name, v, meta)
                    if error:
                        raise ValueError(error)

    def to_dict(self) -> dict:
        """The configuration as JSON-able plain values (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        """Inverse of `to_dict` (e.g. from a model directory's config.json); unknown keys are an error."""
        values = {k: v for k, v in values.items() if k != "provenance"}  # config.json's record
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
        return cls(**values)
