# Environment "script-mode": the shipped bring-your-own-model example, on the embedded emulator (a separate
# environment name, so it coexists with "local"). The demo data set (abalone rings) is trained by the scikit-learn
# script examples/sklearn_model/train.py in the SageMaker scikit-learn container and served by the same file's
# model_fn (docs/bring-your-own-model.md). States only what differs from the defaults in
# batchops_core/settings.py (env_files/local.tfvars shows every key with its meaning).

project     = "abalone"
environment = "script-mode"
emulated    = true
region      = "us-east-1"

dataset = {
  record_key = "record_id"
  target     = "rings"
  columns = [
    { name = "record_id", type = "categorical" },
    { name = "sex", type = "categorical" },
    { name = "length", type = "float" },
    { name = "diameter", type = "float" },
    { name = "height", type = "float" },
    { name = "whole_weight", type = "float" },
    { name = "shucked_weight", type = "float" },
    { name = "viscera_weight", type = "float" },
    { name = "shell_weight", type = "float" },
    { name = "rings", type = "integer" },
  ]
}

model = {
  algorithm               = "script"
  registration_threshold  = 2.6 # training registers the model only if rmse <= 2.6
  model_quality_threshold = 3.0 # a scored batch with rmse > 3.0 fails and starts retraining
}

# The script, its source directory, arguments and metric definitions are the defaults (the shipped example):
# framework sklearn 1.2-1, examples/sklearn_model/train.py, validation:rmse read from its log line.

# Tuning searches the script's own arguments; the objective (default validation:rmse) is read from the log with
# the metric definition of that name.
hpo = {
  ranges = [
    { name = "max_depth", type = "integer", min = 2, max = 5 },
    { name = "learning_rate", type = "continuous", min = 0.03, max = 0.3 },
    { name = "n_estimators", type = "integer", min = 100, max = 300 },
  ]
}

notifications = {
  recipients = ["ml-team@example.com"]
}
