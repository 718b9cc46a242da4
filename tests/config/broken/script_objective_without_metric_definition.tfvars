# expect: hpo.objective_metric: 'validation:mae' is not one of script.metric_definitions (validation:rmse); define it with the regex that reads it from the script's log
model = { algorithm = "script" }
hpo = {
  objective_metric = "validation:mae"
  ranges           = [{ name = "max_depth", type = "integer", min = 2, max = 5 }]
}
