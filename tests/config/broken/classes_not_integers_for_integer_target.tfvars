# expect: model.classes: the target 'rings' is integer, so its labels are whole numbers such as "0" and "1", found ['young', 'old']
model = {
  problem_type            = "binary"
  metric                  = "auc"
  classes                 = ["young", "old"]
  registration_threshold  = 0.9
  model_quality_threshold = 0.85
}
xgboost = {
  hyperparameters = { objective = "binary:logistic", eval_metric = "auc", num_round = "10" }
}
