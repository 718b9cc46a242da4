# expect: xgboost.hyperparameters.eval_metric: 'auc' is a binary metric, the model is multiclass
model = {
  problem_type            = "multiclass"
  metric                  = "mlogloss"
  classes                 = ["0", "1", "2"]
  registration_threshold  = 0.5
  model_quality_threshold = 0.6
}
xgboost = {
  hyperparameters = { objective = "multi:softprob", eval_metric = "auc", num_round = "10" }
}
