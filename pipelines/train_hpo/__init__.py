"""The training pipeline with hyperparameter tuning; started by a model-quality failure to retrain."""
