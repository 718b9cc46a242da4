# expect: model: problem_type: metric 'accuracy' exists for binary and multiclass problems; state problem_type
# remove: model.problem_type
model = {
  metric = "accuracy"
}
