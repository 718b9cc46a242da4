"""Step scripts shipped to SageMaker processing containers (each also runs locally, unchanged)."""
