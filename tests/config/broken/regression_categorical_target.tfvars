# expect: dataset.target: 'sex' must be integer or float for regression, found categorical (for class labels set model.problem_type binary or multiclass)
dataset = {
  target = "sex"
}
