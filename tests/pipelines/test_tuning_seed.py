"""The tuning step is seeded from config, so the same data and settings try the same candidates."""

import json

from batchops_core.settings import load_settings
from pipelines.definitions import build_definitions


def test_tuning_job_carries_the_configured_seed():
    settings = load_settings("local")
    definition = json.loads(build_definitions(settings, account_id="123456789012")["training_hpo"])
    tune = next(step for step in definition["Steps"] if step["Name"] == "Tune")
    config = tune["Arguments"]["HyperParameterTuningJobConfig"]
    assert config["RandomSeed"] == settings.model.split_seed
    assert config["ResourceLimits"]["MaxParallelTrainingJobs"] == settings.hpo.max_parallel_jobs
