# expect: compute.processing_instance_type: 'ml.banana.huge' is not a SageMaker processing instance type (did you mean
compute = {
  processing_instance_type = "ml.banana.huge"
}
