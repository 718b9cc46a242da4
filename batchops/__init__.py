"""batchops: the Python side of the batch-inference MLOps stack (config, Terraform adapter, local runtime, CLI)."""
