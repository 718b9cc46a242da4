# expect: model: registration_threshold (3.5) is looser than model_quality_threshold (3.0) for rmse (lower is better): a registered model could fail its first batch; expected registration_threshold <= 3.0
model = {
  registration_threshold  = 3.5
  model_quality_threshold = 3.0
}
