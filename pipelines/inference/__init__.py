"""The batch-inference pipeline: resolve the approved model at run time, score a batch, check quality."""
