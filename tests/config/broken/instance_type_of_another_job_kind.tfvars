# expect: compute.transform_instance_type: 'ml.t3.medium' is not a SageMaker transform instance type (did you mean
compute = {
  transform_instance_type = "ml.t3.medium"
}
