# expect: model.algorithm: expected one of 'xgboost-builtin' or 'script', found 'sklearn'
model = { algorithm = "sklearn" }
