# expect: compute.processing_instance_count: at most 100 (SageMaker's limit of a processing job's InstanceCount), found 101
compute = {
  processing_instance_count = 101
}
