# expect: model.registration_threshold: warning: equals model_quality_threshold (3.0): a model registered at the threshold fails the first batch that scores slightly worse
model = {
  registration_threshold  = 3.0
  model_quality_threshold = 3.0
}
