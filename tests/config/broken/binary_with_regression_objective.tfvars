# expect: xgboost.hyperparameters.objective: a binary model needs 'binary:logistic' (class probabilities for the gates), found 'reg:squarederror'
model = {
  problem_type           = "binary"
  metric                 = "f1"
  classes                = ["0", "1"]
  registration_threshold = 0.9
  model_quality_threshold = 0.85
}
