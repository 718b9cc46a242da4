# expect: model.registration_threshold: defined twice (lines 4 and 6)
model = {
  metric                 = "rmse"
  registration_threshold = 2.6
  split_seed             = 42
  registration_threshold = 2.4
}
