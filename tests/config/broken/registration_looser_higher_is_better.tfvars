# expect: model: registration_threshold (0.6) is looser than model_quality_threshold (0.7) for r2 (higher is better): a registered model could fail its first batch; expected registration_threshold >= 0.7
model = {
  metric                  = "r2"
  registration_threshold  = 0.6
  model_quality_threshold = 0.7
}
