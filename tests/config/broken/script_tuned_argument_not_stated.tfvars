# expect: hpo.ranges: 'eta' is not one of script.hyperparameters (the script's arguments: learning_rate, max_depth, n_estimators); state its default there
model = { algorithm = "script" }
