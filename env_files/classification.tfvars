# Environment "classification": the shipped binary-classification example, on the embedded emulator (a separate
# environment name, so it coexists with "local"). The demo generator (`batchops demo --env classification`)
# writes tumour measurements labelled benign / malignant. States only what differs from the defaults in
# batchops_core/settings.py (env_files/local.tfvars shows every key with its meaning).

project     = "tumours"
environment = "classification"
emulated    = true
region      = "us-east-1"

dataset = {
  record_key = "record_id"
  target     = "diagnosis"
  columns = [
    { name = "record_id", type = "categorical" },
    { name = "radius", type = "float" },
    { name = "texture", type = "float" },
    { name = "smoothness", type = "float" },
    { name = "concavity", type = "float" },
    { name = "symmetry", type = "float" },
    { name = "diagnosis", type = "categorical" },
  ]
}

# Binary: the problem type follows from the metric (f1 is a binary metric). The classes are the labels in
# class-index order, negative then positive: f1, precision and recall are those of "malignant".
model = {
  metric                  = "f1"
  classes                 = ["benign", "malignant"]
  registration_threshold  = 0.85 # training registers the model only if f1 >= 0.85
  model_quality_threshold = 0.8  # a scored batch with f1 < 0.8 fails and starts retraining
}

# The built-in algorithm's binary objective (class probabilities) and the container's f1 of the positive class
# ("f1" there is macro-averaged); the tuning objective is the gate's metric.
xgboost = {
  hyperparameters = {
    objective        = "binary:logistic"
    eval_metric      = "f1_binary"
    num_round        = "120"
    max_depth        = "5"
    eta              = "0.1"
    subsample        = "0.8"
    min_child_weight = "2"
  }
}

hpo = {
  objective_metric = "validation:f1_binary"
}

notifications = {
  recipients = ["ml-team@example.com"]
}
