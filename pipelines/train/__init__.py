"""The training pipeline: one XGBoost training job with the configured hyperparameters."""
