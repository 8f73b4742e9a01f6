"""Positive random quantities (object sizes, service times) drawn from a
:class:`~cdn.scenario.Distribution`.

Theory of operation: a distribution kind is a name in :data:`DISTRIBUTIONS`,
mapped to a function ``(dist, rng, n) -> float64 array`` that draws ``n``
values with the caller's ``numpy.random.Generator``. :func:`sample` looks the
kind up, draws and clips to ``[minimum, maximum]``. Nothing here owns a seed
or a clock: the caller passes the generator, so the same seed gives the same
values in the simulator and in the live servers. A new kind is one function
and one line in the registry.

- ``fixed``: always ``value``.
- ``lognormal``: median ``value``, shape ``sigma`` (``value * exp(sigma * N(0, 1))``).
- ``exponential``: mean ``value``.
- ``pareto``: classical Pareto with scale ``value`` (the minimum) and ``shape``
  (tail index; the mean is finite only for shape > 1).

>>> import numpy as np
>>> from cdn.scenario import Distribution
>>> sample(Distribution("fixed", 3.0), np.random.default_rng(0), 2).tolist()
[3.0, 3.0]
>>> from cdn.units import parse_duration
>>> parse_distribution("lognormal:5ms:0.5", parse_duration)
Distribution(kind='lognormal', value=0.005, sigma=0.5, shape=0.0, minimum=0.0, maximum=inf)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cdn.scenario import Distribution
from cdn.units import UnitError

__all__ = [
    "DISTRIBUTIONS",
    "Sampler",
    "check",
    "mean",
    "parse_distribution",
    "sample",
]


def _fixed(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.full(n, float(d.value))


def _lognormal(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    return d.value * np.exp(d.sigma * rng.standard_normal(n))


def _exponential(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.exponential(d.value, n)


def _pareto(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    # numpy's pareto is Lomax (Pareto II starting at 0); shift to the classical one.
    return d.value * (1.0 + rng.pareto(d.shape, n))


DISTRIBUTIONS: dict[str, Callable[[Distribution, np.random.Generator, int], np.ndarray]] = {
    "fixed": _fixed,
    "lognormal": _lognormal,
    "exponential": _exponential,
    "pareto": _pareto,
}


def check(d: Distribution) -> list[str]:
    """Problems with ``d`` as readable sentences (empty when it is usable)."""
    problems = []
    if d.kind not in DISTRIBUTIONS:
        allowed = ", ".join(DISTRIBUTIONS)
        return [f"unknown distribution {d.kind!r}; allowed: {allowed}"]
    if not (d.value >= 0 and np.isfinite(d.value)):
        problems.append(f"value must be a finite number >= 0, got {d.value}")
    if d.kind == "lognormal" and not d.sigma >= 0:
        problems.append(f"lognormal sigma must be >= 0, got {d.sigma}")
    if d.kind == "pareto" and not d.shape > 0:
        problems.append(f"pareto shape must be > 0, got {d.shape}")
    if d.kind in ("exponential", "pareto") and not d.value > 0:
        problems.append(f"{d.kind} value must be > 0, got {d.value}")
    if d.minimum > d.maximum:
        problems.append(f"minimum {d.minimum} is above maximum {d.maximum}")
    return problems


def sample(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws from ``d`` with ``rng``, clipped to ``[d.minimum, d.maximum]``."""
    problems = check(d)
    if problems:
        raise ValueError("; ".join(problems))
    return np.clip(DISTRIBUTIONS[d.kind](d, rng, n), d.minimum, d.maximum)


def mean(d: Distribution) -> float:
    """The mean before clipping (``inf`` for a Pareto with shape <= 1)."""
    if d.kind == "fixed":
        return float(d.value)
    if d.kind == "lognormal":
        return float(d.value * np.exp(d.sigma**2 / 2))
    if d.kind == "exponential":
        return float(d.value)
    if d.kind == "pareto":
        return float("inf") if d.shape <= 1 else d.value * d.shape / (d.shape - 1)
    raise ValueError(f"unknown distribution {d.kind!r}; allowed: {', '.join(DISTRIBUTIONS)}")


_ARITY = {"fixed": ("value",), "lognormal": ("value", "sigma"), "exponential": ("value",),
          "pareto": ("value", "shape")}  # fmt: skip


def parse_distribution(text: str, parse_value: Callable[[object], float]) -> Distribution:
    """A :class:`Distribution` from a command-line spec.

    ``"5ms"`` (fixed), ``"fixed:5ms"``, ``"lognormal:MEDIAN:SIGMA"``,
    ``"exponential:MEAN"``, ``"pareto:SCALE:SHAPE"``; ``parse_value`` converts
    the quantity (e.g. :func:`cdn.units.parse_duration`). Raises ``ValueError``
    with the allowed forms.
    """
    forms = "5ms, fixed:5ms, lognormal:5ms:0.5, exponential:5ms, pareto:1ms:1.5"
    kind, _, rest = text.partition(":")
    if not rest:
        kind, rest = "fixed", text
    if kind not in _ARITY:
        raise ValueError(f"{text!r}: unknown distribution {kind!r}; write one of: {forms}")
    parts = rest.split(":")
    names = _ARITY[kind]
    if len(parts) != len(names):
        raise ValueError(f"{text!r}: {kind} takes {len(names)} field(s); write one of: {forms}")
    try:
        fields = {"value": float(parse_value(parts[0]))}
        for name, part in zip(names[1:], parts[1:], strict=True):
            fields[name] = float(part)
    except (UnitError, ValueError) as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    d = Distribution(kind, **fields)
    problems = check(d)
    if problems:
        raise ValueError(f"{text!r}: " + "; ".join(problems))
    return d


class Sampler:
    """Endless draws from one distribution and seed, one at a time.

    Draws in batches (numpy is fast per array, slow per call); ``drawn`` counts
    the values handed out, so a server's use of it can be checked by counting.
    """

    def __init__(self, d: Distribution, seed: int, batch: int = 1024):
        problems = check(d)
        if problems:
            raise ValueError("; ".join(problems))
        self.distribution = d
        self._rng = np.random.default_rng(seed)
        self._batch = batch
        self._buffer: list[float] = []
        self.drawn = 0

    def __call__(self) -> float:
        if not self._buffer:
            # reversed so that pop() hands values out in drawing order
            self._buffer = sample(self.distribution, self._rng, self._batch)[::-1].tolist()
        self.drawn += 1
        return self._buffer.pop()
