# expect: compute.processing_instance_count: must be 1: every processing step reads its whole input on each instance
compute = {
  processing_instance_count = 2
}
