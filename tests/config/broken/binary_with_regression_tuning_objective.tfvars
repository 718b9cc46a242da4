# expect: hpo.objective_metric: 'validation:rmse' is not a binary tuning objective; known: validation:f1_binary, validation:precision, validation:recall, validation:accuracy, validation:auc, validation:logloss
model = {
  problem_type            = "binary"
  metric                  = "auc"
  classes                 = ["0", "1"]
  registration_threshold  = 0.9
  model_quality_threshold = 0.85
}
xgboost = {
  hyperparameters = { objective = "binary:logistic", eval_metric = "auc", num_round = "10" }
}
