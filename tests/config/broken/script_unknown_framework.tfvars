# expect: script.framework: expected one of 'sklearn' or 'xgboost', found 'pytorch'
script = { framework = "pytorch" }
