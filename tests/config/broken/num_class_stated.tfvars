# expect: xgboost.hyperparameters.num_class: set by the pipelines from model.classes (the number of labels), leave it out; found '3'
xgboost = {
  hyperparameters = { objective = "reg:squarederror", num_round = "10", num_class = "3" }
}
