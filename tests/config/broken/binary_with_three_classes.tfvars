# expect: model: classes: a binary model needs exactly 2 labels (negative, then positive), found 3: ['a', 'b', 'c']
model = {
  problem_type = "binary"
  metric       = "auc"
  classes      = ["a", "b", "c"]
}
