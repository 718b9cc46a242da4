# expect: compute.processing_instance_count: must be 1: only the inference Preprocess splits its input across instances
compute = {
  processing_instance_count = 2
}
