"""Deterministic, abalone-like demo data (seeded numpy; nothing is downloaded).

The generator follows how the animals grow: an age (rings) is drawn per sex, shell length follows a saturating
growth curve of age, and the other measurements follow from length with multiplicative noise. Because growth
flattens with age, older animals are hard to tell apart by size: the regression has a realistic, non-trivial
error, like the public abalone data.

Three data sets are produced:
- training: the reference population;
- clean batch: a fresh sample of the same population (scores well, no drift);
- drifted batch: animals from another site that grow more slowly (smaller at the same age, heavier shells) and
  with another sex mix, so feature distributions shift and the old model clearly underestimates their age.

Only the demo uses this module; every command works with any CSV whose schema is in the env file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from batchops_core.settings import Settings

DEMO_COLUMNS = [
    ("record_id", "categorical"),
    ("sex", "categorical"),
    ("length", "float"),
    ("diameter", "float"),
    ("height", "float"),
    ("whole_weight", "float"),
    ("shucked_weight", "float"),
    ("viscera_weight", "float"),
    ("shell_weight", "float"),
    ("rings", "integer"),
]
DEMO_TARGET = "rings"
DEMO_RECORD_KEY = "record_id"


@dataclass(frozen=True)
class Population:
    """Parameters of one population of animals."""

    sex_share: tuple[float, float, float]  # M, F, I
    mean_rings: tuple[float, float, float]
    growth_rate: float  # von Bertalanffy K: how fast length approaches its maximum with age
    max_length: float
    shell_share: float  # shell weight as a share of whole weight


REFERENCE = Population(sex_share=(0.37, 0.31, 0.32), mean_rings=(10.7, 11.1, 7.9), growth_rate=0.15,
                       max_length=0.70, shell_share=0.29)
SLOW_GROWING_SITE = Population(sex_share=(0.50, 0.38, 0.12), mean_rings=(13.0, 13.5, 9.5), growth_rate=0.07,
                               max_length=0.68, shell_share=0.36)

_SEXES = np.array(["M", "F", "I"])


def generate(population: Population, rows: int, *, seed: int, id_prefix: str) -> pd.DataFrame:
    """`rows` animals of one population, columns in the demo schema order; same seed → same rows."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, found {rows}")
    rng = np.random.default_rng(seed)
    sex_index = rng.choice(3, size=rows, p=np.array(population.sex_share))
    mean = np.array(population.mean_rings)[sex_index]
    spread = np.where(sex_index == 2, 2.5, 3.0)
    # Gamma above 1 ring: right-skewed like real ages.
    shape = (mean - 1) ** 2 / spread**2
    rings = 1 + rng.gamma(shape, spread**2 / (mean - 1))
    rings = np.clip(np.rint(rings), 1, 29).astype(int)

    def jitter(scale: float) -> np.ndarray:
        return np.exp(rng.normal(0.0, scale, rows))

    length = population.max_length * (1 - np.exp(-population.growth_rate * (rings + 0.5))) * jitter(0.06)
    diameter = 0.79 * length * jitter(0.03)
    height = 0.265 * length * jitter(0.08)
    whole = 5.0 * length**3 * jitter(0.10)
    shucked = 0.43 * whole * jitter(0.08)
    viscera = 0.22 * whole * jitter(0.08)
    # Shells keep thickening with age after length has levelled off: the strongest age signal for old animals.
    shell = population.shell_share * whole * (1 + 0.025 * (rings - 10)).clip(0.6, None) * jitter(0.08)
    frame = pd.DataFrame({
        "record_id": [f"{id_prefix}-{i:06d}" for i in range(1, rows + 1)],
        "sex": _SEXES[sex_index],
        "length": length.round(3),
        "diameter": diameter.round(3),
        "height": height.round(3),
        "whole_weight": whole.round(4),
        "shucked_weight": shucked.round(4),
        "viscera_weight": viscera.round(4),
        "shell_weight": shell.round(4),
        "rings": rings,
    })
    return frame


@dataclass(frozen=True)
class DemoFiles:
    training: Path
    clean_batch: Path
    clean_ground_truth: Path
    drifted_batch: Path
    drifted_ground_truth: Path


def check_demo_schema(settings: Settings) -> None:
    """The demo generator only knows the abalone-like schema: say so clearly if the env file has another."""
    expected = [{"name": n, "type": t} for n, t in DEMO_COLUMNS]
    found = [c.model_dump() for c in settings.dataset.columns]
    if (found != expected or settings.dataset.target != DEMO_TARGET
            or settings.dataset.record_key != DEMO_RECORD_KEY or not settings.dataset.header):
        raise ValueError(
            f"{settings.source_file}: dataset: the demo generates abalone-like data with columns "
            f"{', '.join(n for n, _ in DEMO_COLUMNS)} (header row, record_key '{DEMO_RECORD_KEY}', target "
            f"'{DEMO_TARGET}'); this env file has another schema. Use the data commands with your own CSV files.")


def write_demo_files(out_dir: Path, *, training_rows: int = 3000, batch_rows: int = 800,
                     seed: int = 20240601) -> DemoFiles:
    """Write the demo CSVs: a batch file holds every column but the target; its ground truth holds key + target."""
    out_dir.mkdir(parents=True, exist_ok=True)
    training = generate(REFERENCE, training_rows, seed=seed, id_prefix="train")
    clean = generate(REFERENCE, batch_rows, seed=seed + 1, id_prefix="clean")
    drifted = generate(SLOW_GROWING_SITE, batch_rows, seed=seed + 2, id_prefix="drift")
    files = DemoFiles(
        training=out_dir / "training.csv",
        clean_batch=out_dir / "batch-clean.csv",
        clean_ground_truth=out_dir / "batch-clean-ground-truth.csv",
        drifted_batch=out_dir / "batch-drifted.csv",
        drifted_ground_truth=out_dir / "batch-drifted-ground-truth.csv",
    )
    training.to_csv(files.training, index=False)
    for frame, batch_path, truth_path in ((clean, files.clean_batch, files.clean_ground_truth),
                                          (drifted, files.drifted_batch, files.drifted_ground_truth)):
        frame.drop(columns=[DEMO_TARGET]).to_csv(batch_path, index=False)
        frame[[DEMO_RECORD_KEY, DEMO_TARGET]].to_csv(truth_path, index=False)
    return files


# ------------------------------------------------------------------------------------------ classification
# Tumour measurements labelled benign / malignant (the schema of env_files/classification.tfvars). At the
# reference site the diagnosis follows size, concavity and texture. The "shifted labels" batch comes from another
# clinic whose scanner reads symmetry much higher (a feature the model can tell the site by) and whose diagnoses
# follow texture and smoothness instead: the model trained on the reference site mislabels it (model quality
# fails), and a model retrained with that batch's labels learns both sites.

TUMOUR_COLUMNS = [
    ("record_id", "categorical"),
    ("radius", "float"),
    ("texture", "float"),
    ("smoothness", "float"),
    ("concavity", "float"),
    ("symmetry", "float"),
    ("diagnosis", "categorical"),
]
TUMOUR_TARGET = "diagnosis"
TUMOUR_CLASSES = ("benign", "malignant")


def generate_tumours(rows: int, *, seed: int, id_prefix: str, shifted_labels: bool = False) -> pd.DataFrame:
    """`rows` labelled tumours in the TUMOUR_COLUMNS order; same seed → same rows."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, found {rows}")
    rng = np.random.default_rng(seed)
    radius = rng.normal(14.0, 3.0, rows).clip(6, 28)
    texture = rng.normal(19.0, 4.0, rows).clip(9, 40)
    smoothness = rng.normal(0.096, 0.014, rows).clip(0.05, 0.16)
    concavity = (0.09 + 0.012 * (radius - 14) + rng.normal(0, 0.04, rows)).clip(0, 0.43)
    symmetry = rng.normal(0.30 if shifted_labels else 0.18, 0.02, rows).clip(0.1, 0.4)
    if shifted_labels:
        score = (texture - 19) / 4 + 0.5 * (smoothness - 0.096) / 0.014 + rng.normal(0, 0.15, rows)
    else:
        score = 0.9 * (radius - 14) / 3 + 0.6 * (concavity - 0.09) / 0.05 + 0.3 * (texture - 19) / 4 \
            + rng.normal(0, 0.15, rows)
    diagnosis = np.where(score > 0.6, TUMOUR_CLASSES[1], TUMOUR_CLASSES[0])
    return pd.DataFrame({
        "record_id": [f"{id_prefix}-{i:06d}" for i in range(1, rows + 1)],
        "radius": radius.round(3),
        "texture": texture.round(3),
        "smoothness": smoothness.round(5),
        "concavity": concavity.round(5),
        "symmetry": symmetry.round(4),
        "diagnosis": diagnosis,
    })
