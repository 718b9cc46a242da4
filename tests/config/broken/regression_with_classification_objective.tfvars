# expect: xgboost.hyperparameters.objective: 'binary:logistic' is a classification objective, the model is regression (set model.metric to a classification metric and model.classes)
xgboost = {
  hyperparameters = { objective = "binary:logistic", num_round = "10" }
}
