"""Data-quality engine: dataset statistics, suggested constraints and constraint violations in the exact file
formats of SageMaker Model Monitor's data-quality analyzer (`statistics.json`, `constraints.json`,
`constraint_violations.json`).

Self-contained on purpose (standard library, numpy and pandas only): the same file runs as a processing script in
the scikit-learn image, is imported by the local pipeline runner for QualityCheck steps, and is called directly by
tools. Python 3.8+, numpy 1.x/2.x, pandas 1.1 through 3.x.

How it works
  * CSV files are streamed in chunks; memory depends on the chunk size, never on the file size. A directory means
    every file under it (names starting with "." or "_" skipped, sorted by path; .gz and other compressions
    pandas recognises are read too). Files are combined by column name with a header, by position without one
    (columns `_c0`, `_c1`, ...). Only empty fields are missing values: "NA" or "null" are text. Lines with more
    fields than the header are skipped and counted.
  * Every feature gets exact counts (present, missing, value types) and exact moments (mean, sum, population
    std_dev, min, max). Numeric values feed a KLL-style quantile sketch (parameters c=0.64, k=2048) whose
    compaction is deterministic; values are processed in fixed blocks of NUMERIC_BLOCK_VALUES, so the result
    (moments and sketch, bit for bit) does not depend on the chunk size or file boundaries. Same input, same
    bytes.
  * Value types are inferred per value like the analyzer: a value is Integral when it is a whole number,
    Fractional when it is another finite number, String otherwise; a feature is String as soon as one of its
    values is, Fractional when any value is, Integral otherwise, and Unknown when it has no value at all. (Values
    are parsed as numbers, so `2.0` counts as Integral; pandas reads True/False columns as booleans, which become
    the text values "True" and "False".)
  * Exact per-value counts are kept for up to TRACKED_DISTINCT_LIMIT distinct values per feature. Past that, a
    String feature's distinct_count is a HyperLogLog estimate and its categorical buckets are left empty (no
    categorical drift check for such a feature); values named by a baseline (categories and domains) are still
    counted exactly, so the checks against a baseline stay exact. (A String feature with more than that many
    distinct numbers among its values reports a lower bound as distinct_count.)

Check semantics (against a baseline's constraints.json and statistics.json)
  * data_type_check: share of present values matching the baseline type (Integral matches Integral; Fractional
    matches any number; String matches anything) below `datatype_check_threshold` (the required share).
  * completeness_check: observed share of present values below the feature's `completeness`.
  * baseline_drift_check: numeric features compare the two KLL CDFs (L-infinity distance; `Robust` subtracts the
    two-sample Kolmogorov-Smirnov allowance 1.8 * sqrt((n + m) / (n * m))) with `comparison_threshold`;
    String features compare category shares with `LInfinity` (same Simple / Robust variants) or test them with
    `ChiSquared` (violation when the p-value falls below `categorical_comparison_threshold`).
  * missing_column_check / extra_column_check: baseline features absent from the data / data columns absent from
    the baseline.
  * categorical_values_check: share of present values inside `string_constraints.domains` below
    `domain_content_threshold` (the required share).
  `monitoring_config.evaluate_constraints` = Disabled turns every check off, per feature via
  `monitoringConfigOverrides` (or `monitoring_config_overrides`), which may also override any other key.

Label column and class balance (a product extension; the analyzer has no such key)
  * With `label_column` set, that column is not a feature: features, their checks and constraints.json are what
    they are without it. statistics.json gets a `label_distribution` section instead: exact counts per class when
    the label is categorical (String or Integral values, at most CLASS_BALANCE_MAX_CLASSES classes), else the
    reason it is not reported (no such column, fractional values, too many classes). Counts add up, so the
    sections of datasets read apart combine exactly (merge_label_distributions).
  * A check whose dataset and baseline both have class counts compares the class shares: the L-infinity distance
    (largest absolute change of one class's share, as for categorical features) against
    `class_balance_threshold` (default 0.1: one class's share moved by more than 10 percentage points). The
    measure does not depend on the batch size, unlike a chi-square test that flags negligible moves in large
    batches (its p-value is reported beside it). Class balance drift is a warning, never a violation: it is in
    the summary and result.json, not in constraint_violations.json (whose check types are the analyzer's).

Scale-out over several processing instances (product keys `partial_output` and `partials_source`)
  * Each instance profiles its share of the files (a ShardedByS3Key input; a share may be empty) and writes its
    partial profile, the accumulators' state, as <current_host>.json; one more run merges the partial profiles
    (PartialProfiles) and writes statistics.json, constraints.json and constraint_violations.json from the merged
    profile with the same code as a one-pass run. Exact: counts, value types, categories and domains (watched
    values too), distinct counts (the HyperLogLog registers merge), completeness, missing and extra columns,
    class counts. Up to rounding: mean, sum, std_dev. Within the sketch's rank error (merge_statistics): KLL
    buckets and numerical drift distances, so a distance within that error of its threshold may decide
    differently than one pass does.

Entry points: compute_baseline(), check_dataset(), run_analyzer() and main() (see their docstrings).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SKETCH_K = 2048
SKETCH_C = 0.64
DISTRIBUTION_BUCKETS = 10
DEFAULT_CHUNK_ROWS = 100_000
# Numeric values are processed in blocks of this many values: moments are merged per block and the sketch
# compacts a whole block at once (fewer, larger compactions: faster, and no less accurate). The block size, not
# the chunk size, fixes every floating-point operation, so results do not depend on chunking.
NUMERIC_BLOCK_VALUES = 16 * SKETCH_K
TRACKED_DISTINCT_LIMIT = 10_000  # exact per-value counts per feature up to this many distinct values
DOMAIN_CARDINALITY_LIMIT = 120  # String features with at most this many distinct values get a domain constraint
ROBUST_C_ALPHA = 1.8  # two-sample KS critical value for alpha ~ 0.003, as the analyzer's robust distance uses
HLL_PRECISION = 12  # 4096 registers: ~1.6 % relative error on distinct counts past the tracking limit
CHI_SQUARE_MIN_EXPECTED_2X2 = 10  # expected counts needed with two categories (Cochran)
CHI_SQUARE_MIN_EXPECTED = 5  # ... with more categories, of which at most 20 % may fall below (Yates et al.)
CHI_SQUARE_SMALL_SHARE = 0.2
CLASS_BALANCE_MAX_CLASSES = 50  # a label column with more distinct values is no class label (e.g. a regression target)
DEFAULT_CLASS_BALANCE_THRESHOLD = 0.1
LABEL_DISTRIBUTION = "label_distribution"  # the statistics.json section of the label column (contracts.py too)

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
DEFAULT_BASE_DIR = "/opt/ml"
CONTAINER_BASE_DIR = "/opt/ml"
EXIT_VIOLATIONS = 2
EXIT_ERROR = 1

NUMERIC_TYPES = ("Integral", "Fractional")
INFERRED_TYPES = ("Integral", "Fractional", "String", "Unknown")
ENABLED_VALUES = ("Enabled", "Disabled")
COMPARISON_METHODS = {"simple": "Simple", "linf_simple": "Simple", "robust": "Robust", "linf_robust": "Robust"}
CATEGORICAL_DRIFT_METHODS = {"linfinity": "LInfinity", "chisquared": "ChiSquared"}

# What a freshly computed baseline suggests (the analyzer's generated baselines use the same values).
DEFAULT_GENERATED_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
# What a constraints file means when it leaves a key out (documented defaults of the format).
DEFAULT_READ_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Simple",
        "categorical_drift_method": "LInfinity",
    },
}


class DataQualityError(ValueError):
    """Bad input (dataset, baseline documents, settings): the message names what is wrong and where."""


# --------------------------------------------------------------------------------------------- quantile sketch


class QuantileSketch:
    """Mergeable KLL-style quantile sketch over floats.

    `levels[h]` holds items of weight 2**h. Level 0 is compacted whenever it reaches k items, higher levels when
    they reach their capacity max(2, ceil(k * c**(depth - h))) (the top level holds k). A compaction promotes
    every other item of the sorted level, starting alternately at the first and the second, so the result is
    deterministic. Levels above 0 are kept sorted (promoted items are merged in, not re-sorted).
    """

    def __init__(self, k: int = SKETCH_K, c: float = SKETCH_C):
        if int(k) < 2 or not 0.0 < float(c) < 1.0:
            raise DataQualityError(f"sketch parameters: k must be >= 2 and 0 < c < 1, got k={k}, c={c}")
        self.k = int(k)
        self.c = float(c)
        self.levels: list[np.ndarray] = [np.empty(0)]
        self._compactions: list[int] = [0]
        self._level0_sorted = False

    @classmethod
    def from_data(cls, data: list, k: float = SKETCH_K, c: float = SKETCH_C, where: str = "sketch") -> QuantileSketch:
        """Rebuild a sketch from the `sketch.data` lists of a statistics file (list h holds weight-2**h items)."""
        sketch = cls(int(k), float(c))
        if not isinstance(data, list) or not all(isinstance(level, list) for level in data):
            raise DataQualityError(f"{where}.data: expected a list of lists of numbers")
        try:
            levels = [np.asarray(level, dtype=np.float64).reshape(-1) for level in data]
        except (TypeError, ValueError) as error:
            raise DataQualityError(f"{where}.data: expected lists of numbers ({error})") from None
        sketch.levels = [np.sort(level) for level in levels] or [np.empty(0)]
        sketch._compactions = [0] * len(sketch.levels)
        return sketch

    @property
    def weight(self) -> int:
        return int(sum(len(level) << h for h, level in enumerate(self.levels)))

    def update(self, values: np.ndarray, *, ascending: bool = False) -> None:
        """Add values (weight 1 each); `ascending` says they are already sorted (saves a sort)."""
        if len(values):
            self._level0_sorted = ascending and not len(self.levels[0])
            self.levels[0] = np.concatenate([self.levels[0], np.asarray(values, dtype=np.float64)])
            self._compress()

    def merge(self, other: QuantileSketch) -> None:
        """Fold another sketch into this one (level by level, then compact as needed)."""
        while len(self.levels) < len(other.levels):
            self.levels.append(np.empty(0))
            self._compactions.append(0)
        for h, level in enumerate(other.levels):
            if len(level):
                mine = self.levels[h]
                self.levels[h] = _merge_sorted(mine, level) if h else np.concatenate([mine, level])
        self._level0_sorted = False
        self._compress()

    def _capacity(self, h: int) -> int:
        if h == 0:
            return self.k
        return max(2, int(math.ceil(self.k * self.c ** (len(self.levels) - 1 - h))))

    def _compress(self) -> None:
        h = 0
        while h < len(self.levels):
            if len(self.levels[h]) >= self._capacity(h):
                self._compact(h)
            h += 1

    def _compact(self, h: int) -> None:
        if h + 1 == len(self.levels):
            self.levels.append(np.empty(0))
            self._compactions.append(0)
        items = np.sort(self.levels[h]) if h == 0 and not self._level0_sorted else self.levels[h]
        kept = items[len(items) - len(items) % 2:]  # an odd item out stays (its weight must not be lost)
        offset = self._compactions[h] % 2
        self._compactions[h] += 1
        promoted = items[offset: len(items) - len(kept): 2]
        self.levels[h] = kept.copy()
        self.levels[h + 1] = _merge_sorted(self.levels[h + 1], promoted)

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted items and the cumulative weight up to and including each one."""
        items = np.concatenate(self.levels) if self.levels else np.empty(0)
        weights = np.concatenate([np.full(len(level), float(1 << h)) for h, level in enumerate(self.levels)])
        order = np.argsort(items, kind="stable")
        return items[order], np.cumsum(weights[order])

    def data(self) -> list[list[float]]:
        """The levels as JSON lists (each sorted; trailing empty levels dropped)."""
        levels = [sorted(level.tolist()) for level in self.levels]
        while len(levels) > 1 and not levels[-1]:
            levels.pop()
        return levels


def _merge_sorted(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The sorted union (with repeats) of two sorted arrays, in linear-ish time."""
    if not len(first):
        return second.copy()
    if not len(second):
        return first
    merged = np.empty(len(first) + len(second), dtype=np.float64)
    from_second = np.zeros(len(merged), dtype=bool)
    from_second[np.searchsorted(first, second, side="right") + np.arange(len(second))] = True
    merged[from_second] = second
    merged[~from_second] = first
    return merged


def _rank(items: np.ndarray, cumulative: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Total weight of the items <= each key."""
    index = np.searchsorted(items, keys, side="right")
    padded = np.concatenate([[0.0], cumulative])
    return padded[index]


def _robust(distance: float, n: float, m: float) -> float:
    return max(0.0, distance - ROBUST_C_ALPHA * math.sqrt((n + m) / (n * m)))


def numerical_distance(baseline: QuantileSketch, current: QuantileSketch, method: str = "Simple") -> float:
    """L-infinity distance between the two sketches' CDFs, taken at every item of either (the analyzer's
    definition); `Robust` subtracts the two-sample KS allowance for the sample sizes."""
    items_b, cum_b = baseline.cdf()
    items_c, cum_c = current.cdf()
    if not len(items_b) or not len(items_c):
        return 0.0
    n, m = float(cum_b[-1]), float(cum_c[-1])
    keys = np.union1d(items_b, items_c)
    distance = float(np.max(np.abs(_rank(items_b, cum_b, keys) / n - _rank(items_c, cum_c, keys) / m)))
    return _robust(distance, n, m) if method == "Robust" else distance


def categorical_distance(baseline: dict[str, float], current: dict[str, float], method: str = "Simple") -> float:
    """L-infinity distance between the category shares of two count tables (Simple or Robust)."""
    n, m = float(sum(baseline.values())), float(sum(current.values()))
    if n <= 0 or m <= 0:
        return 0.0
    keys = set(baseline) | set(current)
    distance = max(abs(baseline.get(key, 0.0) / n - current.get(key, 0.0) / m) for key in keys)
    return _robust(distance, n, m) if method == "Robust" else distance


def chi_square_p_value(baseline: dict[str, float], current: dict[str, float]) -> float | None:
    """Goodness-of-fit p-value of the current category counts against the baseline shares.

    Categories the baseline never saw are left out (categorical_values_check reports them). Small expected
    categories are merged into the next smallest until the usual validity rules hold. None when fewer than two
    categories remain or there is nothing to test.
    """
    observed = {key: float(current.get(key, 0.0)) for key in baseline}
    observed_total = sum(observed.values())
    baseline_total = float(sum(baseline.values()))
    if observed_total <= 0 or baseline_total <= 0:
        return None
    expected = {key: float(count) / baseline_total * observed_total for key, count in baseline.items()}
    while len(expected) >= 2:
        if len(expected) == 2:
            threshold, allowed_small = CHI_SQUARE_MIN_EXPECTED_2X2, 0
        else:
            threshold, allowed_small = CHI_SQUARE_MIN_EXPECTED, int(CHI_SQUARE_SMALL_SHARE * len(expected))
        if sum(1 for value in expected.values() if value < threshold) <= allowed_small:
            break
        # merge the smallest expected category into the second smallest (ties: by name, for determinism)
        smallest, second = sorted(expected, key=lambda key: (expected[key], key))[:2]
        expected[second] += expected.pop(smallest)
        observed[second] += observed.pop(smallest)
    if len(expected) < 2:
        return None
    statistic = sum((observed[key] - value) ** 2 / value for key, value in expected.items() if value > 0)
    return chi_square_survival(statistic, len(expected) - 1)


def chi_square_survival(statistic: float, degrees_of_freedom: int) -> float:
    """P(X >= statistic) for a chi-square variable: the regularized upper incomplete gamma Q(df/2, x/2)."""
    if statistic <= 0:
        return 1.0
    a, x = degrees_of_freedom / 2.0, statistic / 2.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # series for the lower function P, then Q = 1 - P
        term = total = 1.0 / a
        denominator = a
        for _ in range(10_000):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_prefactor) * h)


# --------------------------------------------------------------------------------------------- distinct values


class HyperLogLog:
    """Distinct-count estimator over 64-bit hashes (used only past the exact-tracking limit)."""

    def __init__(self, precision: int = HLL_PRECISION):
        self.precision = precision
        self.registers = np.zeros(1 << precision, dtype=np.uint8)

    def add_strings(self, values: list) -> None:
        if not values:
            return
        hashes = pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)
        p = np.uint64(self.precision)
        index = (hashes >> (np.uint64(64) - p)).astype(np.intp)
        rest = (hashes << p) | (np.uint64(1) << (p - np.uint64(1)))  # sentinel bit bounds the run of zeros
        # bit length of `rest`, exactly: its top 53 bits fit a float's mantissa
        top = (rest >> np.uint64(11)).astype(np.float64)
        bit_length = np.frexp(top)[1].astype(np.int64) + 11
        rho = (65 - bit_length).astype(np.uint8)  # leading zeros + 1
        np.maximum.at(self.registers, index, rho)

    def estimate(self) -> int:
        m = float(len(self.registers))
        alpha = 0.7213 / (1.0 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.power(2.0, -self.registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return int(round(m * math.log(m / zeros)))
        return int(round(raw))


class _ValueCounter:
    """Exact counts per text value while there are at most `limit` distinct values; afterwards only `watched`
    values are counted and the distinct values go to a HyperLogLog (the overflow is a property of the whole data,
    so results do not depend on chunking)."""

    def __init__(self, limit: int, watched: set, distinct_sketch: HyperLogLog | None = None):
        self.limit = limit
        self.watched = watched
        self.counts: dict = {}
        self.overflowed = False
        self.distinct_sketch = distinct_sketch

    def add(self, values: pd.Series) -> None:
        """Count raw values."""
        if not len(values) or (self.overflowed and not self.watched and self.distinct_sketch is None):
            return
        if self.overflowed and self.distinct_sketch is None:  # only the watched values matter any more
            values = values[values.isin(list(self.watched))]
        tallies = values.value_counts(sort=False, dropna=True)
        if not self.overflowed and len(tallies) > self.limit:  # clearly too many: skip the per-value merge
            all_keys = list(self.counts) + tallies.index.tolist() if self.distinct_sketch is not None else []
            self._overflow(all_keys)
            tallies = tallies[tallies.index.isin(list(self.watched))]
        self.add_tallies(list(tallies.items()))

    def add_tallies(self, pairs: list) -> None:
        """Count distinct values given with their multiplicities: [(value, count), ...]."""
        if self.overflowed:
            if self.distinct_sketch is not None:
                self.distinct_sketch.add_strings([key for key, _ in pairs])
            pairs = [(key, count) for key, count in pairs if key in self.watched] if self.watched else []
        elif len(self.counts) + len(pairs) > self.limit:
            new_keys = [key for key, _ in pairs if key not in self.counts]
            if len(self.counts) + len(new_keys) > self.limit:
                self._overflow(list(self.counts) + new_keys)
                pairs = [(key, count) for key, count in pairs if key in self.watched]
        table = self.counts
        for key, count in pairs:
            table[key] = table.get(key, 0) + int(count)

    def _overflow(self, all_keys: list) -> None:
        self.overflowed = True
        if self.distinct_sketch is not None:
            self.distinct_sketch.add_strings(all_keys)
        self.counts = {key: count for key, count in self.counts.items() if key in self.watched}

    def state(self) -> dict:
        """What a partial profile keeps: the counts, and once overflowed the distinct-value registers."""
        document = {"counts": [[key, count] for key, count in self.counts.items()], "overflowed": self.overflowed}
        if self.overflowed and self.distinct_sketch is not None:
            document["registers"] = self.distinct_sketch.registers.tolist()
        return document

    def absorb(self, state: dict) -> None:
        """Fold in another part's state as if its values had been added here: registers take their maximum, and
        the exact counts of a part that did not overflow go through add_tallies (which overflows when the union
        passes the limit); an overflowed part's counts are its watched values, exact."""
        if state["overflowed"]:
            if self.distinct_sketch is not None:
                registers = np.asarray(state["registers"], dtype=np.uint8)
                np.maximum(self.distinct_sketch.registers, registers, out=self.distinct_sketch.registers)
            if not self.overflowed:
                self._overflow(list(self.counts))
        self.add_tallies([(str(key), int(count)) for key, count in state["counts"]])


class _NumberCounter:
    """Exact counts per numeric value (sorted key and count arrays, merged per block) while there are at most
    `limit` distinct values; afterwards only `watched` values are counted."""

    def __init__(self, limit: int, watched: set):
        self.limit = limit
        self.watched = np.array(sorted(watched), dtype=np.float64)
        self.keys = np.empty(0)
        self.tallies = np.empty(0, dtype=np.int64)
        self.overflowed = False

    def add_sorted(self, values: np.ndarray) -> None:
        if not len(values) or (self.overflowed and not len(self.watched)):
            return
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        self._add_counts(values[starts], np.diff(np.concatenate([starts, [len(values)]])))

    def _add_counts(self, keys: np.ndarray, tallies: np.ndarray) -> None:
        """Count sorted distinct keys with their multiplicities."""
        if self.overflowed:
            keep = np.isin(keys, self.watched)
            keys, tallies = keys[keep], tallies[keep]
        merged = np.union1d(self.keys, keys)
        if not self.overflowed and len(merged) > self.limit:
            self.overflowed = True
            keep = np.isin(keys, self.watched)
            keys, tallies = keys[keep], tallies[keep]
            old = np.isin(self.keys, self.watched)
            self.keys, self.tallies = self.keys[old], self.tallies[old]
            merged = np.union1d(self.keys, keys)
        counts = np.zeros(len(merged), dtype=np.int64)
        counts[np.searchsorted(merged, self.keys)] += self.tallies
        counts[np.searchsorted(merged, keys)] += tallies
        self.keys, self.tallies = merged, counts

    @property
    def counts(self) -> dict:
        return dict(zip(self.keys.tolist(), self.tallies.tolist()))  # noqa: B905 (runs on Python 3.8)

    def state(self) -> dict:
        return {"keys": self.keys.tolist(), "counts": self.tallies.tolist(), "overflowed": self.overflowed}

    def absorb(self, state: dict) -> None:
        """Fold in another part's counts: the union of the keys, watched values only once either overflowed."""
        keys = np.asarray(state["keys"], dtype=np.float64)
        tallies = np.asarray(state["counts"], dtype=np.int64)
        if state["overflowed"] and not self.overflowed:
            self.overflowed = True
            kept = np.isin(self.keys, self.watched)
            self.keys, self.tallies = self.keys[kept], self.tallies[kept]
        if len(keys) and (len(self.watched) or not self.overflowed):
            self._add_counts(keys, tallies)


def _format_number(value: float) -> str:
    """A numeric value as a category name: whole numbers without a decimal point."""
    if value == math.floor(value) and abs(value) < 2**63:
        return str(int(value))
    return repr(float(value))


NUMBER_PATTERN = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*")
NUMBER_START = frozenset("0123456789+-. \t")  # a text not starting with one of these is no number


def _numbers_of(texts: list) -> np.ndarray:
    """Each text as a finite float, NaN where it is not a plain decimal number."""
    numbers = np.full(len(texts), np.nan)
    for position, text in enumerate(texts):
        if text[:1] in NUMBER_START and NUMBER_PATTERN.fullmatch(text):
            value = float(text)
            if math.isfinite(value):
                numbers[position] = value
    return numbers


def _parse_number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------------------ feature accumulator


class _NumericAccumulator:
    """Exact moments and the quantile sketch, fed in fixed blocks of NUMERIC_BLOCK_VALUES values."""

    def __init__(self, watched: set):
        self.sketch = QuantileSketch()
        self.values = _NumberCounter(TRACKED_DISTINCT_LIMIT, watched)
        self._block = np.empty(NUMERIC_BLOCK_VALUES, dtype=np.float64)
        self._staged = 0
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._finished = False

    def add(self, values: np.ndarray) -> None:
        position, size = 0, len(values)
        block = self._block
        while position < size:
            take = min(size - position, len(block) - self._staged)
            block[self._staged: self._staged + take] = values[position: position + take]
            self._staged += take
            position += take
            if self._staged == len(block):
                self._absorb(block)
                self._staged = 0

    def _absorb(self, values: np.ndarray) -> None:
        count = len(values)
        block_sum = float(np.sum(values))
        block_mean = block_sum / count
        block_m2 = float(np.sum((values - block_mean) ** 2))
        total = self.count + count
        delta = block_mean - self.mean
        self.mean += delta * count / total
        self.m2 += block_m2 + delta * delta * self.count * count / total
        self.count = total
        self.sum += block_sum
        ordered = np.sort(values)
        self.min = min(self.min, float(ordered[0]))
        self.max = max(self.max, float(ordered[-1]))
        self.values.add_sorted(ordered)
        self.sketch.update(ordered, ascending=True)

    def finish(self) -> None:
        if not self._finished and self._staged:
            self._absorb(self._block[: self._staged].copy())
            self._staged = 0
        self._finished = True

    def state(self) -> dict:
        self.finish()
        present = self.count > 0  # min and max are infinite before the first value: JSON has no infinity
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "sum": self.sum,
                "min": self.min if present else None, "max": self.max if present else None,
                "sketch": self.sketch.data(), "values": self.values.state()}

    def absorb(self, state: dict) -> None:
        """Fold in another part's moments (the parallel variance formula), sketch (QuantileSketch.merge) and
        value counts."""
        self.finish()
        count = int(state["count"])
        self.values.absorb(state["values"])
        if not count:
            return
        total = self.count + count
        delta = float(state["mean"]) - self.mean
        self.mean += delta * count / total
        self.m2 += float(state["m2"]) + delta * delta * self.count * count / total
        self.count = total
        self.sum += float(state["sum"])
        self.min = min(self.min, float(state["min"]))
        self.max = max(self.max, float(state["max"]))
        self.sketch.merge(QuantileSketch.from_data(state["sketch"], self.sketch.k, self.sketch.c))

    def statistics(self, name: str) -> dict:
        self.finish()
        if not all(math.isfinite(value) for value in (self.mean, self.sum, self.m2)):
            raise DataQualityError(f"feature {name!r}: values too large to sum in 64-bit floating point")
        return _numerical_section(self.mean, self.sum, math.sqrt(max(self.m2, 0.0) / self.count), self.min,
                                  self.max, self.sketch)


def _numerical_section(mean: float, total: float, std_dev: float, minimum: float, maximum: float,
                       sketch: QuantileSketch) -> dict:
    """A numeric feature's statistics (all but `common`): moments and the KLL distribution of its sketch."""
    items, cumulative = sketch.cdf()
    edges = np.linspace(minimum, maximum, DISTRIBUTION_BUCKETS + 1)
    edges[-1] = maximum
    upper_ranks = _rank(items, cumulative, edges[1:])
    upper_ranks[-1] = cumulative[-1]
    counts = np.diff(np.concatenate([[0.0], upper_ranks]))
    buckets = [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(DISTRIBUTION_BUCKETS)
    ]
    return {
        "mean": float(mean),
        "sum": float(total),
        "std_dev": float(std_dev),
        "min": float(minimum),
        "max": float(maximum),
        "distribution": {
            "kll": {
                "buckets": buckets,
                "sketch": {"parameters": {"c": sketch.c, "k": float(sketch.k)}, "data": sketch.data()},
            }
        },
    }


class _FeatureAccumulator:
    def __init__(self, name: str, rows_before: int, watched: set):
        self.name = name
        self.missing = rows_before  # rows of earlier files that did not have this column
        self.integral = 0
        self.fractional = 0
        self.strings = 0
        watched_numbers = {number for number in map(_parse_number, watched) if number is not None}
        self.numeric = _NumericAccumulator(watched_numbers)
        self.string_counts = _ValueCounter(TRACKED_DISTINCT_LIMIT, set(watched), HyperLogLog())

    @property
    def present(self) -> int:
        return self.integral + self.fractional + self.strings

    def add(self, column: pd.Series) -> None:
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype):
            self._add_strings(column.dropna().astype(str))
        elif pd.api.types.is_integer_dtype(dtype):
            values = column.to_numpy(dtype=np.float64)
            self.integral += len(values)
            self._add_numbers(values)
        elif pd.api.types.is_float_dtype(dtype):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            present = values[~np.isnan(values)]
            self.missing += len(values) - len(present)
            self._split_numbers(present)
        else:
            present = column[column.notna()]
            self.missing += len(column) - len(present)
            if len(present):
                self._add_text(present)

    def _add_text(self, present: pd.Series) -> None:
        """Values of a column the CSV reader kept as text: numbers, other text, or both."""
        # classify the distinct values, then take the numbers back in row order (for the moments and sketch)
        tallies = present.value_counts(sort=False)
        keys = tallies.index.tolist()
        counts = tallies.to_numpy(dtype=np.int64)
        is_number = np.isfinite(_numbers_of(keys))
        if is_number.any():
            number_keys = [key for key, number in zip(keys, is_number) if number]  # noqa: B905
            keys = [key for key, number in zip(keys, is_number) if not number]  # noqa: B905
            counts = counts[~is_number]
            in_row_order = present[present.isin(number_keys).to_numpy(dtype=bool)]
            self._split_numbers(np.array(in_row_order.tolist(), dtype=np.float64))
        self.strings += int(counts.sum())
        self.string_counts.add_tallies(list(zip(keys, counts.tolist())))  # noqa: B905

    def _split_numbers(self, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        if not finite.all():  # inf / -inf are not numbers a dataset can be typed with
            self._add_strings(pd.Series([str(value) for value in values[~finite]]))
            values = values[finite]
        whole = int(np.count_nonzero(values == np.trunc(values)))
        self.integral += whole
        self.fractional += len(values) - whole
        self._add_numbers(values)

    def _add_numbers(self, values: np.ndarray) -> None:
        if len(values):
            self.numeric.add(values)

    def _add_strings(self, values: pd.Series) -> None:
        if len(values):
            self.strings += len(values)
            self.string_counts.add(values)

    def state(self) -> dict:
        return {"name": self.name, "missing": self.missing, "integral": self.integral,
                "fractional": self.fractional, "strings": self.strings, "numeric": self.numeric.state(),
                "string_counts": self.string_counts.state()}

    def absorb(self, state: dict) -> None:
        self.missing += int(state["missing"])
        self.integral += int(state["integral"])
        self.fractional += int(state["fractional"])
        self.strings += int(state["strings"])
        self.numeric.absorb(state["numeric"])
        self.string_counts.absorb(state["string_counts"])

    def inferred_type(self) -> str:
        if self.present == 0:
            return "Unknown"
        if self.strings:
            return "String"
        return "Fractional" if self.fractional else "Integral"

    def category_counts(self) -> dict[str, int]:
        """Counts per value as category names (exact for tracked and watched values)."""
        counts = dict(self.string_counts.counts)
        self.numeric.finish()
        for number, count in self.numeric.values.counts.items():
            key = _format_number(number)
            counts[key] = counts.get(key, 0) + count
        return counts

    def overflowed(self) -> bool:
        self.numeric.finish()
        return self.string_counts.overflowed or self.numeric.values.overflowed

    def distinct_count(self) -> int:
        strings = self.string_counts
        numbers = self.numeric.values
        string_distinct = strings.distinct_sketch.estimate() if strings.overflowed else len(strings.counts)
        # past the limit, numbers are not tracked any more: TRACKED_DISTINCT_LIMIT + 1 is a lower bound
        number_distinct = TRACKED_DISTINCT_LIMIT + 1 if numbers.overflowed else len(numbers.counts)
        if not strings.overflowed and not numbers.overflowed:
            return len(self.category_counts())
        return string_distinct + number_distinct

    def statistics(self, item_count: int) -> dict:
        inferred = self.inferred_type()
        common = {"num_present": self.present, "num_missing": item_count - self.present}
        feature = {"name": self.name, "inferred_type": inferred}
        if inferred in NUMERIC_TYPES:
            feature["numerical_statistics"] = {"common": common, **self.numeric.statistics(self.name)}
            return feature
        buckets = []
        if not self.overflowed():
            ordered = sorted(self.category_counts().items(), key=lambda item: (-item[1], item[0]))
            buckets = [{"value": value, "count": count} for value, count in ordered if count > 0]
        feature["string_statistics"] = {
            "common": common,
            "distinct_count": self.distinct_count() if self.present else 0,
            "distribution": {"categorical": {"buckets": buckets}},
        }
        return feature


# ------------------------------------------------------------------------------------------------ reading data


def _data_files(paths) -> list[Path]:
    """Every data file under the given files/directories (hidden and `_`-prefixed names skipped), sorted."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                candidate for candidate in path.rglob("*")
                if candidate.is_file()
                and not any(part.startswith((".", "_")) for part in candidate.relative_to(path).parts)
            )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataQualityError(f"dataset: {path} does not exist (expected a CSV file or a directory of them)")
    if not files:
        raise DataQualityError(f"dataset: no CSV file found under {', '.join(str(Path(p)) for p in paths)}")
    return files


def _pandas_version() -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", pd.__version__).groups()
    return int(major), int(minor)


def _read_options(header: bool, chunk_rows: int) -> dict:
    options = {
        "header": 0 if header else None,
        "chunksize": chunk_rows,
        "keep_default_na": False,  # only empty fields are missing: "NA", "null", "nan" are values
        "na_values": [""],
        "low_memory": False,
    }
    if _pandas_version() >= (1, 3):
        options["on_bad_lines"] = "warn"
        options["encoding_errors"] = "replace"
    else:  # pandas < 1.3
        options["error_bad_lines"] = False
        options["warn_bad_lines"] = True
    return options


class _DatasetProfile:
    """Streams a dataset and accumulates every feature."""

    def __init__(self, header: bool, chunk_rows: int, watched: dict[str, set] | None = None,
                 label_column: str | None = None):
        if not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise DataQualityError(f"chunk_rows: expected a positive integer, got {chunk_rows!r}")
        self.header = bool(header)
        self.chunk_rows = chunk_rows
        self.watched = watched or {}
        self.label_column = label_column or None
        self.label: _FeatureAccumulator | None = None  # the label column, once seen (never a feature)
        self.features: dict[str, _FeatureAccumulator] = {}
        self.item_count = 0
        self.files: list[str] = []
        self.empty_files: list[str] = []
        self.skipped_lines = 0

    def read(self, source) -> _DatasetProfile:
        """Profile the data files at `source` (files or directories, or an InstanceShare), or merge the partial
        profiles of a PartialProfiles source."""
        if isinstance(source, PartialProfiles):
            return source.merge_into(self)
        for path in source.files() if isinstance(source, InstanceShare) else _data_files(source):
            self._read_file(path)
        return self

    def partial(self, mode: str) -> dict:
        """This profile as a partial profile document (see PartialProfiles)."""
        columns = [*self.features.values(), *([self.label] if self.label is not None else [])]
        return {"format": PARTIAL_FORMAT, "mode": mode, "label_column": self.label_column,
                "item_count": self.item_count, "files": self.files, "empty_files": self.empty_files,
                "skipped_lines": self.skipped_lines, "columns": [column.state() for column in columns]}

    def absorb(self, partial: dict) -> None:
        """Fold in a partial profile as if its files had been read here, after the ones read so far."""
        self.files.extend(partial["files"])
        self.empty_files.extend(partial["empty_files"])
        self.skipped_lines += int(partial["skipped_lines"])
        seen = set()
        for state in partial["columns"]:
            self._column(state["name"]).absorb(state)
            seen.add(state["name"])
        self._count_rows(int(partial["item_count"]), seen)

    def _feature(self, name: str) -> _FeatureAccumulator:
        feature = self.features.get(name)
        if feature is None:
            feature = _FeatureAccumulator(name, self.item_count, self.watched.get(name, set()))
            self.features[name] = feature
        return feature

    def _read_file(self, path: Path) -> None:
        self.files.append(str(path))
        try:
            if path.stat().st_size == 0:
                self.empty_files.append(str(path))
                return
            # Bad-line reports are warnings from pandas 1.3 on and text written to sys.stderr before (redirected
            # only there: swapping sys.stderr is process-wide, and the runner imports this module into threads).
            legacy = _pandas_version() < (1, 3)
            err = io.StringIO()
            with warnings.catch_warnings(record=True) as caught, \
                    (contextlib.redirect_stderr(err) if legacy else contextlib.nullcontext()):
                warnings.simplefilter("always")
                try:
                    reader = pd.read_csv(path, **_read_options(self.header, self.chunk_rows))
                except pd.errors.EmptyDataError:
                    self.empty_files.append(str(path))
                    return
                try:  # not `with reader:`: TextFileReader is a context manager from pandas 1.2 on only
                    for chunk in reader:
                        self._add_chunk(chunk)
                finally:
                    reader.close()
            reported = err.getvalue()
            if reported:
                sys.stderr.write(reported)
            self.skipped_lines += sum(str(w.message).count("Skipping line") for w in caught)
            self.skipped_lines += reported.count("Skipping line")
        except (OSError, pd.errors.ParserError, UnicodeError) as error:
            raise DataQualityError(f"dataset file {path}: cannot be read as CSV ({error})") from None

    def _add_chunk(self, chunk: pd.DataFrame) -> None:
        names = [f"_c{column}" if not self.header else str(column) for column in chunk.columns]
        for name in names:
            self._column(name)  # registers the column even when the chunk has no rows
        rows = len(chunk)
        if not rows:
            return
        seen = set()
        for index, (_, column) in enumerate(chunk.items()):
            name = names[index]
            self._column(name).add(column)
            seen.add(name)
        self._count_rows(rows, seen)

    def _count_rows(self, rows: int, seen: set[str]) -> None:
        """Count `rows` more records; every known column not among `seen` is missing in all of them."""
        for name, feature in self.features.items():
            if name not in seen:
                feature.missing += rows
        if self.label is not None and self.label_column not in seen:
            self.label.missing += rows
        self.item_count += rows

    def _column(self, name: str) -> _FeatureAccumulator:
        if name != self.label_column:
            return self._feature(name)
        if self.label is None:
            self.label = _FeatureAccumulator(name, self.item_count, set())
        return self.label

    def statistics(self) -> dict:
        document = {
            "version": 0,
            "dataset": {"item_count": self.item_count},
            "features": [feature.statistics(self.item_count) for feature in self.features.values()],
        }
        if self.label_column:
            document[LABEL_DISTRIBUTION] = _label_distribution(self.label_column, self.label, self.item_count)
        return document


# ------------------------------------------------------------------------------------------ partial profiles


PARTIAL_FORMAT = "batchops-data-quality-partial-1"


class InstanceShare:
    """One processing instance's share of a dataset (a ShardedByS3Key input): its directory may be empty when
    there are fewer objects than instances, and that instance's partial profile is then empty."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise DataQualityError(f"dataset_source: {self.directory} is not a directory (an instance's share "
                                   "of a sharded dataset)")
        if not any(path.is_file() for path in self.directory.rglob("*")):
            return []
        return _data_files(self.directory)


class PartialProfiles:
    """The partial profiles of one dataset read apart: one JSON document per processing instance, each over the
    instance's share of the files (ShardedByS3Key), holding the accumulators' state (exact counts per value type
    and per tracked value, moments, the KLL sketch, distinct-value registers). Merged in host order they give the
    profile one pass over all the files would: counts, categories, distinct counts and check results exactly;
    moments up to floating-point rounding; the sketch (and so the KLL buckets and drift distances) within its rank
    error, as merge_statistics documents."""

    def __init__(self, directory: str, *, mode: str, label_column: str | None):
        self.directory = Path(directory)
        self.mode = mode
        self.label_column = label_column or None

    def paths(self) -> list[Path]:
        if not self.directory.is_dir():
            raise DataQualityError(f"partials_source: {self.directory} is not a directory of partial profiles")
        found = sorted(self.directory.glob("*.json"), key=lambda path: _host_order(path.stem))
        if not found:
            raise DataQualityError(f"partials_source: no partial profile (*.json) in {self.directory}")
        return found

    def merge_into(self, profile: _DatasetProfile) -> _DatasetProfile:
        for path in self.paths():
            document = _load_json(str(path), "partials_source")
            where = f"partials_source: {path}"
            if not isinstance(document, dict) or document.get("format") != PARTIAL_FORMAT:
                raise DataQualityError(f"{where}: not a partial profile of this engine (format {PARTIAL_FORMAT})")
            if document.get("mode") != self.mode:
                raise DataQualityError(f"{where}: profiled for a {document.get('mode')} run, merged for a "
                                       f"{self.mode} run (the two steps must get the same baseline inputs)")
            if (document.get("label_column") or None) != self.label_column:
                raise DataQualityError(f"{where}: profiled with label_column {document.get('label_column')!r}, "
                                       f"merged with {self.label_column!r}")
            try:
                profile.absorb(document)
            except DataQualityError as error:  # e.g. a sketch that is no list of levels
                raise DataQualityError(f"{where}: malformed partial profile ({error})") from None
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise DataQualityError(f"{where}: malformed partial profile ({type(error).__name__}: {error})"
                                       ) from None
        if not profile.files:
            raise DataQualityError(f"dataset: no CSV file found on any instance (partial profiles in "
                                   f"{self.directory})")
        return profile


def _host_order(host: str) -> tuple:
    """algo-2 before algo-10: the instances' order, which is the order of their shares of the files."""
    prefix, _, number = host.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (host, 0)


# ------------------------------------------------------------------------------------------ label column


def _label_distribution(name: str, label: _FeatureAccumulator | None, item_count: int) -> dict:
    """The label column's class counts (sorted by class), or why it has none."""
    if label is None:
        return {"name": name, "not_reported": f"the dataset has no column {name!r}"}
    inferred = label.inferred_type()
    document = {"name": name, "inferred_type": inferred, "num_present": label.present,
                "num_missing": item_count - label.present}
    if inferred == "Unknown":
        return {**document, "not_reported": f"column {name!r} has no value"}
    if inferred == "Fractional":
        return {**document, "not_reported": f"column {name!r} has fractional values: not a class label"}
    counts = {} if label.overflowed() else label.category_counts()
    if label.overflowed() or len(counts) > CLASS_BALANCE_MAX_CLASSES:
        return {**document, "not_reported": f"column {name!r} has more than {CLASS_BALANCE_MAX_CLASSES} distinct "
                                            "values: not a class label"}
    return {**document, "classes": [{"value": value, "count": count} for value, count in sorted(counts.items())]}


def merge_label_distributions(parts: list[dict]) -> dict:
    """One label_distribution section from those of datasets read apart (e.g. one per processing instance):
    class counts add up; a part without classes makes the whole unreported, with that part's reason."""
    if not parts:
        raise DataQualityError("label distributions: nothing to merge")
    names = sorted({part.get("name") for part in parts})
    if len(names) != 1:
        raise DataQualityError(f"label distributions: parts name different label columns {names}")
    unreported = next((part for part in parts if "classes" not in part), None)
    if unreported is not None:
        return {"name": names[0], "not_reported": unreported.get("not_reported", "no class counts")}
    counts: dict[str, int] = {}
    for part in parts:
        for bucket in part["classes"]:
            counts[bucket["value"]] = counts.get(bucket["value"], 0) + int(bucket["count"])
    types = {part["inferred_type"] for part in parts}
    document = {"name": names[0], "inferred_type": "String" if "String" in types else "Integral",
                "num_present": sum(part["num_present"] for part in parts),
                "num_missing": sum(part["num_missing"] for part in parts)}
    if len(counts) > CLASS_BALANCE_MAX_CLASSES:
        return {**document, "not_reported": f"column {names[0]!r} has more than {CLASS_BALANCE_MAX_CLASSES} "
                                            "distinct values: not a class label"}
    return {**document, "classes": [{"value": value, "count": count} for value, count in sorted(counts.items())]}


def merge_statistics(parts: list[dict]) -> dict:
    """One statistics document from those of datasets read apart (one per processing instance, each over its share
    of the files), as if read in one pass: counts add up; mean, sum, std_dev, min and max combine exactly (up to
    floating-point rounding); the KLL sketches merge (QuantileSketch.merge), so the distribution buckets are the
    one-pass ones within the sketch's rank error; categorical counts add up; label distributions merge
    (merge_label_distributions). A feature that is numeric in one part and text in another, or whose categories a
    part could not count (more than TRACKED_DISTINCT_LIMIT distinct values), cannot be merged exactly: a
    DataQualityError names it."""
    if not parts:
        raise DataQualityError("statistics: nothing to merge")
    item_count = sum(int(part["dataset"]["item_count"]) for part in parts)
    names: list[str] = []
    for part in parts:
        names.extend(feature["name"] for feature in part["features"] if feature["name"] not in names)
    features = []
    for name in names:
        found = [feature for part in parts for feature in part["features"] if feature["name"] == name]
        features.append(_merged_feature(name, found, item_count))
    document = {"version": 0, "dataset": {"item_count": item_count}, "features": features}
    labels = [part[LABEL_DISTRIBUTION] for part in parts if LABEL_DISTRIBUTION in part]
    if labels:
        document[LABEL_DISTRIBUTION] = merge_label_distributions(labels)
    return document


def _merged_feature(name: str, found: list[dict], item_count: int) -> dict:
    blocks = [(feature["inferred_type"], feature.get("numerical_statistics") or feature["string_statistics"])
              for feature in found]
    present = [(kind, block) for kind, block in blocks if block["common"]["num_present"]]
    kinds = {kind for kind, _ in present}
    count = sum(int(block["common"]["num_present"]) for _, block in present)
    common = {"num_present": count, "num_missing": item_count - count}
    if kinds and kinds <= set(NUMERIC_TYPES):
        sketch, total = None, 0.0
        for _, block in present:
            kll = block["distribution"]["kll"]["sketch"]
            part = QuantileSketch.from_data(kll["data"], kll["parameters"]["k"], kll["parameters"]["c"],
                                            where=f"statistics: feature {name!r} sketch")
            if sketch is None:
                sketch = part
            else:
                sketch.merge(part)
            total += float(block["sum"])
        sizes = [(int(block["common"]["num_present"]), block) for _, block in present]
        mean = sum(n * float(block["mean"]) for n, block in sizes) / count
        # Each part's sum of squared deviations about the overall mean (the parallel variance formula).
        m2 = sum(n * (float(block["std_dev"]) ** 2 + (float(block["mean"]) - mean) ** 2) for n, block in sizes)
        section = _numerical_section(mean, total, math.sqrt(m2 / count), min(float(b["min"]) for _, b in sizes),
                                     max(float(b["max"]) for _, b in sizes), sketch)
        inferred = "Fractional" if "Fractional" in kinds else "Integral"
        return {"name": name, "inferred_type": inferred, "numerical_statistics": {"common": common, **section}}
    if kinds - {"String"}:
        raise DataQualityError(f"statistics: feature {name!r} is numeric in one part and text in another: its value "
                               "counts cannot be merged exactly (profile the dataset in one pass)")
    counts: dict[str, int] = {}
    for _, block in present:
        buckets = block["distribution"]["categorical"]["buckets"]
        if not buckets:
            raise DataQualityError(f"statistics: feature {name!r} has more than {TRACKED_DISTINCT_LIMIT} distinct "
                                   "values in a part: its counts cannot be merged exactly")
        for bucket in buckets:
            counts[bucket["value"]] = counts.get(bucket["value"], 0) + int(bucket["count"])
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {"name": name, "inferred_type": "String" if kinds else "Unknown", "string_statistics": {
        "common": common, "distinct_count": len(counts),
        "distribution": {"categorical": {"buckets": [{"value": value, "count": c} for value, c in ordered]}}}}


def _class_counts(section, where: str) -> dict[str, int] | None:
    """{class: count} of a label_distribution section; None when it reports no classes."""
    if section is None or "classes" not in section:
        return None
    try:
        return {str(bucket["value"]): int(bucket["count"]) for bucket in section["classes"]}
    except (KeyError, TypeError, ValueError):
        raise DataQualityError(f"{where}.{LABEL_DISTRIBUTION}.classes: expected a list of "
                               "{\"value\", \"count\"} objects") from None


def class_balance(baseline_statistics: dict, statistics: dict, threshold: float = DEFAULT_CLASS_BALANCE_THRESHOLD
                  ) -> dict:
    """Class balance of a dataset against the baseline's: the L-infinity distance between the class shares and
    whether it exceeds `threshold`; {"compared": False, "reason": ...} when either side has no class counts."""
    threshold = _fraction(threshold, "class_balance_threshold")
    baseline = _class_counts(baseline_statistics.get(LABEL_DISTRIBUTION), "baseline statistics")
    current = _class_counts(statistics.get(LABEL_DISTRIBUTION), "statistics")
    if baseline is None or current is None:
        side, section = (("baseline", baseline_statistics) if baseline is None else ("dataset", statistics))
        reason = (section.get(LABEL_DISTRIBUTION) or {}).get("not_reported") or "no label distribution recorded"
        return {"compared": False, "reason": f"no class balance for the {side}: {reason}"}
    n, m = sum(baseline.values()), sum(current.values())
    if not n or not m:
        return {"compared": False, "reason": "no labelled rows in the " + ("baseline" if not n else "dataset")}
    classes = sorted(set(baseline) | set(current))
    baseline_shares = {key: baseline.get(key, 0) / n for key in classes}
    shares = {key: current.get(key, 0) / m for key in classes}
    largest = max(classes, key=lambda key: (abs(shares[key] - baseline_shares[key]), key))
    distance = categorical_distance(baseline, current)
    drifted = distance > threshold
    change = (f"class {largest!r}: {baseline_shares[largest]:.1%} of the baseline, "
              f"{shares[largest]:.1%} of this dataset")
    new_classes = [key for key in classes if key not in baseline]
    message = (f"Class balance drift on {statistics[LABEL_DISTRIBUTION]['name']!r}: distance {distance:.4f} "
               f"{'exceeds' if drifted else 'within'} threshold {threshold:g} ({change})")
    if new_classes:
        message += f"; classes not in the baseline: {', '.join(new_classes)}"
    return {"compared": True, "drifted": drifted, "distance": distance, "threshold": threshold,
            "largest_change": largest, "new_classes": new_classes, "chi_square_p_value": chi_square_p_value(
                baseline, current), "baseline_shares": baseline_shares, "shares": shares, "message": message + "."}


# ------------------------------------------------------------------------------------------------- baseline


def suggest_constraints(statistics: dict, *, comparison_threshold: float = 0.1, comparison_method: str = "Robust",
                        categorical_drift_method: str = "LInfinity") -> dict:
    """constraints.json for a dataset, derived from its statistics (completeness, non-negativity, domains)."""
    method = _choice(comparison_method, COMPARISON_METHODS, "comparison_method")
    drift_method = _choice(categorical_drift_method, CATEGORICAL_DRIFT_METHODS, "categorical_drift_method")
    threshold = _fraction(comparison_threshold, "comparison_threshold")
    item_count = statistics["dataset"]["item_count"]
    features = []
    for feature in statistics["features"]:
        inferred = feature["inferred_type"]
        block = feature.get("numerical_statistics") or feature.get("string_statistics")
        present = block["common"]["num_present"]
        constraint = {
            "name": feature["name"],
            "inferred_type": inferred,
            "completeness": float(present / item_count) if item_count else 0.0,
        }
        if inferred in NUMERIC_TYPES:
            constraint["num_constraints"] = {"is_non_negative": bool(block["min"] >= 0)}
        elif inferred == "String":
            buckets = block["distribution"]["categorical"]["buckets"]
            if buckets and block["distinct_count"] <= DOMAIN_CARDINALITY_LIMIT:
                constraint["string_constraints"] = {"domains": sorted(bucket["value"] for bucket in buckets)}
        features.append(constraint)
    config = json.loads(json.dumps(DEFAULT_GENERATED_CONFIG))
    distribution = config["distribution_constraints"]
    distribution.update(comparison_threshold=threshold, comparison_method=method,
                        categorical_comparison_threshold=threshold, categorical_drift_method=drift_method)
    return {"version": 0, "features": features, "monitoring_config": config}


def compute_baseline(paths, *, header: bool, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                     comparison_threshold: float = 0.1, comparison_method: str = "Robust",
                     categorical_drift_method: str = "LInfinity", label_column: str | None = None
                     ) -> tuple[dict, dict]:
    """(statistics, constraints) of a CSV dataset: a file, a directory (every data file under it) or a list.
    `label_column`: that column is the label (its class counts, not a feature)."""
    statistics = _DatasetProfile(header, chunk_rows, label_column=label_column).read(paths).statistics()
    constraints = suggest_constraints(statistics, comparison_threshold=comparison_threshold,
                                      comparison_method=comparison_method,
                                      categorical_drift_method=categorical_drift_method)
    return statistics, constraints


# -------------------------------------------------------------------------------------------- baseline input


def _choice(value, allowed: dict[str, str], where: str) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return allowed[value.strip().lower()]
    names = sorted(set(allowed.values()))
    raise DataQualityError(f"{where}: expected one of {', '.join(names)}, got {value!r}")


def _fraction(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise DataQualityError(f"{where}: expected a number between 0 and 1, got {value!r}")
    return float(value)


def _enabled(value, where: str) -> bool:
    if value not in ENABLED_VALUES:
        raise DataQualityError(f"{where}: expected Enabled or Disabled, got {value!r}")
    return value == "Enabled"


def _merge_config(base: dict, override: dict, where: str) -> dict:
    if not isinstance(override, dict):
        raise DataQualityError(f"{where}: expected an object, got {type(override).__name__}")
    merged = dict(base)
    for key, value in override.items():
        if key == "distribution_constraints":
            if not isinstance(value, dict):
                raise DataQualityError(f"{where}.distribution_constraints: expected an object")
            merged[key] = {**base.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


class _CheckConfig:
    """monitoring_config with defaults applied and every value validated."""

    def __init__(self, config: dict, where: str, drift_method_override: str | None):
        distribution = config.get("distribution_constraints", {})
        self.evaluate = _enabled(config.get("evaluate_constraints"), f"{where}.evaluate_constraints")
        self.datatype_threshold = _fraction(config.get("datatype_check_threshold"),
                                            f"{where}.datatype_check_threshold")
        self.domain_threshold = _fraction(config.get("domain_content_threshold"),
                                          f"{where}.domain_content_threshold")
        dwhere = f"{where}.distribution_constraints"
        self.compare = _enabled(distribution.get("perform_comparison"), f"{dwhere}.perform_comparison")
        self.threshold = _fraction(distribution.get("comparison_threshold"), f"{dwhere}.comparison_threshold")
        self.method = _choice(distribution.get("comparison_method"), COMPARISON_METHODS,
                              f"{dwhere}.comparison_method")
        categorical = distribution.get("categorical_comparison_threshold", self.threshold)
        self.categorical_threshold = _fraction(categorical, f"{dwhere}.categorical_comparison_threshold")
        drift_method = drift_method_override or distribution.get("categorical_drift_method")
        self.drift_method = _choice(drift_method, CATEGORICAL_DRIFT_METHODS, f"{dwhere}.categorical_drift_method")


def _baseline_features(document: dict, kind: str) -> list[dict]:
    if not isinstance(document, dict):
        raise DataQualityError(f"baseline {kind}: expected a JSON object, got {type(document).__name__}")
    features = document.get("features")
    if not isinstance(features, list):
        raise DataQualityError(f"baseline {kind}: 'features' must be a list")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            raise DataQualityError(f"baseline {kind}: features[{index}] must be an object with a string 'name'")
    return features


def _baseline_sketch(feature: dict, where: str) -> QuantileSketch | None:
    kll = (((feature.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {})
    sketch = kll.get("sketch")
    if not sketch:
        return None
    if not isinstance(sketch, dict):
        raise DataQualityError(f"{where}.numerical_statistics.distribution.kll.sketch: expected an object")
    parameters = sketch.get("parameters") or {}
    return QuantileSketch.from_data(sketch.get("data", []), parameters.get("k", SKETCH_K),
                                    parameters.get("c", SKETCH_C),
                                    where=f"{where}.numerical_statistics.distribution.kll.sketch")


def _baseline_categories(feature: dict, where: str) -> dict[str, float]:
    buckets = (((feature.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {})
    buckets = buckets.get("buckets") or []
    counts: dict[str, float] = {}
    for index, bucket in enumerate(buckets):
        value, count = (bucket.get("value"), bucket.get("count")) if isinstance(bucket, dict) else (None, None)
        if not isinstance(value, str) or isinstance(count, bool) or not isinstance(count, (int, float)):
            raise DataQualityError(f"{where}.string_statistics.distribution.categorical.buckets[{index}]: "
                                   "expected {\"value\": string, \"count\": number}")
        counts[value] = counts.get(value, 0.0) + float(count)
    return counts


def _domains(constraint: dict, where: str) -> list[str] | None:
    domains = (constraint.get("string_constraints") or {}).get("domains")
    if domains is None:
        return None
    if not isinstance(domains, list) or not all(isinstance(value, str) for value in domains):
        raise DataQualityError(f"{where}.string_constraints.domains: expected a list of strings")
    return domains


# ---------------------------------------------------------------------------------------------------- checks


def _violation(feature: str, check: str, description: str) -> dict:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def _percent(share: float) -> str:
    return repr(round(share * 100.0, 10))


def check_dataset(paths, baseline_statistics: dict, baseline_constraints: dict, *, header: bool,
                  chunk_rows: int = DEFAULT_CHUNK_ROWS, categorical_drift_method: str | None = None,
                  label_column: str | None = None) -> tuple[dict, dict]:
    """Check a CSV dataset against a baseline: (statistics of the dataset, {"violations": [...]}).

    The baseline documents are validated before any data is read. `categorical_drift_method` (LInfinity /
    ChiSquared), when given, overrides the constraints file's. `label_column`: that column is the label (its
    class counts, not a feature; see class_balance()).
    """
    _, statistics, report = _check(paths, baseline_statistics, baseline_constraints, header, chunk_rows,
                                   categorical_drift_method, label_column)
    return statistics, report


class _FeaturePlan:
    """What to check for one baseline feature, validated and parsed up front."""

    def __init__(self, index: int, constraint: dict, baseline_feature: dict | None, base_config: dict,
                 drift_method: str | None):
        self.name = constraint["name"]
        where = f"baseline constraints: features[{index}] ({self.name!r})"
        overrides = constraint.get("monitoringConfigOverrides", constraint.get("monitoring_config_overrides")) or {}
        self.config = _CheckConfig(_merge_config(base_config, overrides, f"{where}.monitoringConfigOverrides"),
                                   f"{where} monitoring config", drift_method)
        self.expected_type = constraint.get("inferred_type", "Unknown")
        if self.expected_type not in INFERRED_TYPES:
            raise DataQualityError(f"{where}.inferred_type: expected one of {', '.join(INFERRED_TYPES)}, "
                                   f"got {self.expected_type!r}")
        self.completeness = None
        if "completeness" in constraint:
            self.completeness = _fraction(constraint["completeness"], f"{where}.completeness")
        self.domains = _domains(constraint, where)
        statistics_where = f"baseline statistics: feature {self.name!r}"
        self.sketch = None
        self.categories: dict[str, float] = {}
        if baseline_feature is not None:
            if self.expected_type in NUMERIC_TYPES:
                self.sketch = _baseline_sketch(baseline_feature, statistics_where)
            self.categories = _baseline_categories(baseline_feature, statistics_where)

    def watched_values(self) -> set:
        """Values the data must be counted for exactly, however many distinct values it has."""
        return set(self.domains or []) | set(self.categories)

    def violations(self, feature: _FeatureAccumulator, item_count: int) -> list[dict]:
        found = [
            self._data_type(feature),
            self._completeness(feature, item_count),
            self._domain(feature),
            self._drift(feature) if self.config.compare else None,
        ]
        return [violation for violation in found if violation]

    def _data_type(self, feature: _FeatureAccumulator) -> dict | None:
        present = feature.present
        if self.expected_type == "Unknown" or not present:
            return None
        matching = {"Integral": feature.integral, "Fractional": feature.integral + feature.fractional,
                    "String": present}[self.expected_type]
        share = matching / present
        if share >= self.config.datatype_threshold:
            return None
        return _violation(
            self.name, "data_type_check",
            f"Data type match requirement is not met. Expected data type: {self.expected_type}, Expected match: "
            f"{_percent(self.config.datatype_threshold)}%. Observed: Only {_percent(share)}% of data is "
            f"{self.expected_type}.")

    def _completeness(self, feature: _FeatureAccumulator, item_count: int) -> dict | None:
        if self.completeness is None:
            return None
        completeness = feature.present / item_count if item_count else 0.0
        if completeness >= self.completeness:
            return None
        return _violation(self.name, "completeness_check",
                          f"Value: {completeness!r} does not meet the constraint requirement! ")

    def _domain(self, feature: _FeatureAccumulator) -> dict | None:
        if self.domains is None or not feature.present:
            return None
        counts = feature.category_counts()
        share = sum(counts.get(value, 0) for value in set(self.domains)) / feature.present
        if share >= self.config.domain_threshold:
            return None
        return _violation(self.name, "categorical_values_check",
                          f"Value: {share!r} does not meet the constraint requirement! ")

    def _drift(self, feature: _FeatureAccumulator) -> dict | None:
        config = self.config
        if self.expected_type in NUMERIC_TYPES:
            feature.numeric.finish()
            if self.sketch is None or self.sketch.weight == 0 or feature.numeric.count == 0:
                return None
            distance = numerical_distance(self.sketch, feature.numeric.sketch, config.method)
            if distance <= config.threshold:
                return None
            return _violation(self.name, "baseline_drift_check",
                              f"Numerical distance: {distance!r} exceeds numerical threshold: {config.threshold!r}")
        if self.expected_type != "String" or not self.categories or not feature.present:
            return None
        current = feature.category_counts()
        if config.drift_method == "ChiSquared":
            p_value = chi_square_p_value(self.categories, current)
            if p_value is None or p_value >= config.categorical_threshold:
                return None
            return _violation(self.name, "baseline_drift_check",
                              f"Categorical drift: ChiSquared p-value {p_value!r} is below categorical threshold: "
                              f"{config.categorical_threshold!r}")
        if feature.overflowed():  # only baseline categories were counted: the rest is one "other" share
            current = {**current, "\x00other": feature.present - sum(current.values())}
        distance = categorical_distance(self.categories, current, config.method)
        if distance <= config.categorical_threshold:
            return None
        return _violation(self.name, "baseline_drift_check",
                          f"Categorical distance: {distance!r} exceeds categorical threshold: "
                          f"{config.categorical_threshold!r}")


def _check(paths, baseline_statistics, baseline_constraints, header, chunk_rows, categorical_drift_method,
           label_column=None):
    """(profile, statistics, violations document) of a dataset checked against a baseline."""
    constraint_features = _baseline_features(baseline_constraints, "constraints")
    statistic_features = {f["name"]: f for f in _baseline_features(baseline_statistics, "statistics")}
    base_config = _merge_config(DEFAULT_READ_CONFIG, baseline_constraints.get("monitoring_config", {}),
                                "baseline constraints: monitoring_config")
    drift_method = None
    if categorical_drift_method:
        drift_method = _choice(categorical_drift_method, CATEGORICAL_DRIFT_METHODS, "categorical_drift_method")
    top_config = _CheckConfig(base_config, "baseline constraints: monitoring_config", drift_method)
    plans = [_FeaturePlan(index, constraint, statistic_features.get(constraint["name"]), base_config, drift_method)
             for index, constraint in enumerate(constraint_features)]

    profile = _DatasetProfile(header, chunk_rows, {plan.name: plan.watched_values() for plan in plans},
                              label_column=label_column)
    statistics = profile.read(paths).statistics()  # statistics() also finishes every accumulator

    violations: list[dict] = []
    columns = (f"Number of columns in current dataset: {len(profile.features)}, "
               f"Number of columns in baseline constraints: {len(plans)}")
    for plan in plans:
        if not plan.config.evaluate:
            continue
        feature = profile.features.get(plan.name)
        if feature is None:
            violations.append(_violation(plan.name, "missing_column_check",
                                         f"There are missing columns in current dataset. {columns}"))
        else:
            violations.extend(plan.violations(feature, profile.item_count))
    if top_config.evaluate:
        baseline_names = {plan.name for plan in plans}
        extra = f"There are extra columns in current dataset. {columns}"
        violations.extend(_violation(name, "extra_column_check", extra)
                          for name in profile.features if name not in baseline_names)
    return profile, statistics, {"violations": violations}


# ------------------------------------------------------------------------------------------- analyzer contract


def _rebase(path: str, base_dir: str | None) -> str:
    """A container path (/opt/ml/...) under another base directory, for local runs."""
    if base_dir and os.path.normpath(base_dir) != CONTAINER_BASE_DIR:
        if path == CONTAINER_BASE_DIR or path.startswith(CONTAINER_BASE_DIR + "/"):
            return os.path.join(base_dir, path[len(CONTAINER_BASE_DIR) + 1:])
    return path


def _dataset_format(text: str | None) -> bool:
    """The `header` flag of a dataset_format value (only CSV datasets are supported)."""
    if not text:
        return True
    try:
        document = json.loads(text)
    except ValueError as error:
        raise DataQualityError(f"dataset_format: not valid JSON ({error}): {text!r}") from None
    if not isinstance(document, dict) or "csv" not in document:
        kinds = ", ".join(document) if isinstance(document, dict) else type(document).__name__
        raise DataQualityError(f"dataset_format: only CSV datasets are supported, got {kinds or 'nothing'}")
    csv = document["csv"] or {}
    if not isinstance(csv, dict):
        raise DataQualityError("dataset_format.csv: expected an object such as {\"header\": true}")
    header = csv.get("header", True)
    if not isinstance(header, bool):
        raise DataQualityError(f"dataset_format.csv.header: expected true or false, got {header!r}")
    position = csv.get("output_columns_position", "START")
    if position not in ("START", "END"):
        raise DataQualityError(f"dataset_format.csv.output_columns_position: expected START or END, got {position!r}")
    return header


def _load_json(path: str, key: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise DataQualityError(f"{key}: cannot read {path} ({error.strerror or error})") from None
    except ValueError as error:
        raise DataQualityError(f"{key}: {path} is not valid JSON ({error})") from None


def write_json(path: Path, document: dict) -> None:
    """Deterministic JSON (same document, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _run_post_analytics(script: str) -> None:
    spec = importlib.util.spec_from_file_location("post_analytics_processor", script)
    if spec is None or spec.loader is None or not os.path.isfile(script):
        raise DataQualityError(f"post_analytics_processor_script: cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "postprocess_handler", None)
    if not callable(handler):
        raise DataQualityError(f"post_analytics_processor_script: {script} defines no postprocess_handler()")
    try:
        handler()
    except Exception as error:  # the user's code: report it as the step's failure reason
        raise DataQualityError(f"post_analytics_processor_script: postprocess_handler() of {script} failed: "
                               f"{type(error).__name__}: {error}") from error


def run_analyzer(environment: dict[str, str], *, base_dir: str | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> dict:
    """Do what the Model Monitor analyzer container does for a CSV dataset, given its Environment.

    Keys: dataset_source (a directory or file), output_path, dataset_format (JSON, CSV only), baseline_statistics
    and baseline_constraints (check mode when given), categorical_drift_method, publish_cloudwatch_metrics,
    post_analytics_processor_script; generating a baseline also honours comparison_threshold and
    comparison_method. Paths under /opt/ml are taken under `base_dir` when one is given. Product keys:
    label_column (the label: class counts instead of a feature) and class_balance_threshold (check mode).
    Writes statistics.json and constraints.json (and constraint_violations.json in check mode) into output_path.
    Scale-out keys (product keys, the analyzer has none): partial_output (a directory: write this instance's
    partial profile there as <current_host>.json instead of the reports; the dataset is the instance's share,
    possibly empty) and partials_source (a directory of such profiles: merge them instead of reading
    dataset_source, then write the reports as above; see PartialProfiles). Returns a summary: {"mode",
    "item_count", "features", "violations", "violation_counts", "files", "empty_files", "skipped_lines",
    "output_path", "descriptions", "class_balance"} (class_balance: None unless a check has a label_column; mode
    "partial" for a shard, whose output_path is its partial profile).
    """
    env = {key: value for key, value in environment.items() if value is not None}
    source = env.get("dataset_source")
    output = env.get("output_path")
    partial_output, partials_source = env.get("partial_output"), env.get("partials_source")
    if partial_output and partials_source:
        raise DataQualityError("partial_output and partials_source: give one (profile a share of the dataset, "
                               "or merge the shares' profiles), not both")
    if not source and not partials_source:
        raise DataQualityError("dataset_source: not set (the directory holding the dataset)")
    if not output and not partial_output:
        raise DataQualityError("output_path: not set (the directory the reports are written to)")
    source, output = _rebase(source or "", base_dir), _rebase(output or "", base_dir)
    header = _dataset_format(env.get("dataset_format"))
    if "publish_cloudwatch_metrics" in env:
        _enabled(env["publish_cloudwatch_metrics"], "publish_cloudwatch_metrics")
    if env.get("record_preprocessor_script"):
        raise DataQualityError("record_preprocessor_script: not supported for CSV datasets by this engine")
    label_column = env.get("label_column") or None
    balance_threshold = _threshold_setting(env.get("class_balance_threshold", str(DEFAULT_CLASS_BALANCE_THRESHOLD)),
                                           "class_balance_threshold")
    drift_method = env.get("categorical_drift_method") or None
    if drift_method:
        drift_method = _choice(drift_method, CATEGORICAL_DRIFT_METHODS, "categorical_drift_method")
    statistics_path = env.get("baseline_statistics")
    constraints_path = env.get("baseline_constraints")
    if statistics_path and not constraints_path:
        raise DataQualityError("baseline_statistics is set but baseline_constraints is not: give both or neither")
    generation = {  # settings written into the constraints suggested for this data
        "comparison_threshold": _threshold_setting(env.get("comparison_threshold", "0.1"), "comparison_threshold"),
        "comparison_method": _choice(env.get("comparison_method", "Robust"), COMPARISON_METHODS, "comparison_method"),
        "categorical_drift_method": drift_method or "LInfinity",
    }

    mode = "check" if constraints_path else "baseline"
    if partial_output:
        source = InstanceShare(source)
    elif partials_source:
        source = PartialProfiles(_rebase(partials_source, base_dir), mode=mode, label_column=label_column)
    if constraints_path:
        constraints_doc = _load_json(_rebase(constraints_path, base_dir), "baseline_constraints")
        statistics_doc = (_load_json(_rebase(statistics_path, base_dir), "baseline_statistics")
                          if statistics_path else {"features": []})
        profile, statistics, report = _check(source, statistics_doc, constraints_doc, header, chunk_rows,
                                             drift_method, label_column)
        balance = class_balance(statistics_doc, statistics, balance_threshold) if label_column else None
    else:
        profile, report = _DatasetProfile(header, chunk_rows, label_column=label_column).read(source), None
        statistics = profile.statistics()
        balance = None
    if partial_output:
        return _write_partial(profile, mode, _rebase(partial_output, base_dir), base_dir)
    constraints = suggest_constraints(statistics, **generation)

    out = Path(output)
    documents = [(STATISTICS_FILE, statistics), (CONSTRAINTS_FILE, constraints)]
    if report is not None:
        documents.append((VIOLATIONS_FILE, report))
    for file_name, document in documents:
        try:
            write_json(out / file_name, document)
        except OSError as error:
            raise DataQualityError(f"output_path: cannot write {out / file_name} ({error})") from None
    violations = report["violations"] if report is not None else []
    if env.get("post_analytics_processor_script"):
        _run_post_analytics(_rebase(env["post_analytics_processor_script"], base_dir))
    counts: dict[str, int] = {}
    for violation in violations:
        counts[violation["constraint_check_type"]] = counts.get(violation["constraint_check_type"], 0) + 1
    return {
        "mode": mode,
        "item_count": statistics["dataset"]["item_count"],
        "features": len(statistics["features"]),
        "violations": len(violations),
        "violation_counts": counts,
        "descriptions": [f"{v['constraint_check_type']} on {v['feature_name']!r}: {v['description'].strip()}"
                         for v in violations],
        "output_path": str(out),
        "files": profile.files,
        "empty_files": profile.empty_files,
        "skipped_lines": profile.skipped_lines,
        "class_balance": balance,
    }


def _current_host(base_dir: str | None) -> str:
    """This instance's name from the processing container's resourceconfig.json (algo-1 without one)."""
    path = Path(_rebase(f"{CONTAINER_BASE_DIR}/config/resourceconfig.json", base_dir))
    if not path.is_file():
        return "algo-1"
    host = _load_json(str(path), "resourceconfig.json").get("current_host")
    if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", host):
        raise DataQualityError(f"resourceconfig.json: current_host must be a host name, found {host!r} in {path}")
    return host


def _write_partial(profile: _DatasetProfile, mode: str, directory: str, base_dir: str | None) -> dict:
    """Write this instance's partial profile as <directory>/<current_host>.json: every instance writes its own
    file, because all instances' outputs are uploaded under the output's one S3 prefix."""
    target = Path(directory) / f"{_current_host(base_dir)}.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(profile.partial(mode), allow_nan=False), encoding="utf-8")
    except OSError as error:
        raise DataQualityError(f"partial_output: cannot write {target} ({error})") from None
    return {"mode": "partial", "item_count": profile.item_count, "features": len(profile.features),
            "violations": 0, "violation_counts": {}, "descriptions": [], "output_path": str(target),
            "files": profile.files, "empty_files": profile.empty_files, "skipped_lines": profile.skipped_lines,
            "class_balance": None}


def _threshold_setting(text: str, key: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataQualityError(f"{key}: expected a number between 0 and 1, got {text!r}") from None
    return _fraction(value, key)


# ----------------------------------------------------------------------------------------------------- script


ENVIRONMENT_KEYS = (
    "dataset_source", "output_path", "dataset_format", "baseline_statistics", "baseline_constraints",
    "categorical_drift_method", "publish_cloudwatch_metrics", "post_analytics_processor_script",
    "record_preprocessor_script", "comparison_threshold", "comparison_method", "fail_on_violation",
    # Not analyzer keys: set by the pipeline's own check step so that it writes its structured result, and the
    # label column whose class balance it reports.
    "step_name", "step_result_path", "label_column", "class_balance_threshold", "partial_output", "partials_source",
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Data-quality analysis in the Model Monitor formats. Settings come from the environment "
                    "(the analyzer's keys); a flag overrides the variable of the same name.")
    for key in ENVIRONMENT_KEYS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key, default=None, metavar="VALUE")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows read per chunk")
    return parser.parse_args(argv)


def _failure_summary(summary: dict) -> str:
    listed = summary["descriptions"][:5]
    more = summary["violations"] - len(listed)
    text = (f"Data quality check found {summary['violations']} constraint violation(s) in "
            f"{summary['item_count']} rows of {summary['features']} features: " + "; ".join(listed))
    if more > 0:
        text += f"; and {more} more"
    return text + f". Details: {summary['output_path']}/{VIOLATIONS_FILE}."


def _write_message(base_dir: str, text: str) -> None:
    path = Path(base_dir) / "output" / "message"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text[:1024], encoding="utf-8")  # SageMaker keeps 1 KiB as FailureReason
    except OSError as error:
        print(f"cannot write the failure message to {path}: {error}", file=sys.stderr)


def write_step_result(path: str, step: str, summary: dict, fail: bool, base_dir: str) -> None:
    """result.json of a check (batchops_core.results.StepResult): passed, warning (violations, not failing) or
    failed. The core package is the pipeline's `core` processing input: only this function needs it, so the
    engine still runs alone (without `step_result_path`)."""
    core = str(Path(_rebase(f"{CONTAINER_BASE_DIR}/processing/input/core", base_dir)))
    if core not in sys.path:
        sys.path.insert(0, core)
    from batchops_core import contracts, results

    violations = summary["violations"]
    balance = summary.get("class_balance") or {}
    drifted = bool(balance.get("drifted"))  # class balance drift warns, it never fails the check
    outcome = (results.FAILED if violations and fail else results.WARNING if violations or drifted
               else results.PASSED)
    message = (_failure_summary(summary) if violations else
               f"Data quality check found no constraint violation in {summary['item_count']} rows.")
    if drifted:
        message += " " + balance["message"]
    details = {"violation_counts": summary["violation_counts"]}
    if balance:
        details[contracts.CLASS_BALANCE_DETAIL] = balance
    result = results.StepResult(
        step=step, outcome=outcome, message=message,
        counts={"rows": summary["item_count"], "features": summary["features"], "violations": violations},
        details=details)
    target = Path(_rebase(path, base_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.to_json(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Script entry: analyzer keys from the environment (flags override); exit 0 when done, EXIT_VIOLATIONS
    when violations are found and fail_on_violation is true (default), EXIT_ERROR on bad input. Failures write
    a one-paragraph reason to <SAGEMAKER_BASE_DIR or /opt/ml>/output/message."""
    base_dir = os.environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR
    try:
        arguments = _arguments(argv)
        env = {key: os.environ[key] for key in ENVIRONMENT_KEYS if os.environ.get(key)}
        env.update({key: value for key, value in vars(arguments).items() if key in ENVIRONMENT_KEYS and value})
        env.setdefault("dataset_source", f"{CONTAINER_BASE_DIR}/processing/input/baseline_dataset_input")
        env.setdefault("output_path", f"{CONTAINER_BASE_DIR}/processing/output")
        fail_text = env.pop("fail_on_violation", "true").strip().lower()
        if fail_text not in ("true", "false"):
            raise DataQualityError(f"fail_on_violation: expected true or false, got {fail_text!r}")
        step_name, result_path = env.pop("step_name", ""), env.pop("step_result_path", "")
        if bool(step_name) != bool(result_path):
            raise DataQualityError("step_name and step_result_path: give both (to write result.json) or neither")
        summary = run_analyzer(env, base_dir=base_dir, chunk_rows=arguments.chunk_rows)
        if result_path and summary["mode"] != "check":
            raise DataQualityError("step_result_path: only a check (baseline_statistics and baseline_constraints "
                                   "given) decides anything; a baseline run writes no result")
        if result_path:
            write_step_result(result_path, step_name, summary, fail_text == "true", base_dir)
    except DataQualityError as error:
        message = f"Data quality analysis failed: {error}"
        print(message, file=sys.stderr)
        _write_message(base_dir, message)
        return EXIT_ERROR
    except Exception as error:  # a bug: keep the traceback in the log and a summary as the failure reason
        traceback.print_exc()
        _write_message(base_dir, f"Data quality analysis failed unexpectedly: {type(error).__name__}: {error}")
        return EXIT_ERROR
    print(json.dumps({key: value for key, value in summary.items() if key != "descriptions"}, indent=2))
    for line in summary["descriptions"]:
        print(f"violation: {line}")
    if (summary["class_balance"] or {}).get("drifted"):
        print(f"warning: {summary['class_balance']['message']}")
    if summary["violations"] and fail_text == "true":
        message = _failure_summary(summary)
        print(message, file=sys.stderr)
        _write_message(base_dir, message)
        return EXIT_VIOLATIONS
    return 0


if __name__ == "__main__":
    sys.exit(main())
