# expect: model: metric: 'f1' is not a regression metric; regression metrics: mse, rmse, mae, mape, r2
model = {
  metric = "f1"
}
