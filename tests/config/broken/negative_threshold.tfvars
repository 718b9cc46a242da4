# expect: model: registration_threshold: rmse thresholds must be > 0, found -2.6
model = {
  registration_threshold = -2.6
}
