# expect: script.metric_definitions[0].regex: needs a capturing group around the value, e.g. 'rmse=([0-9.]+)', found 'validation:rmse=[0-9.]+'
script = { metric_definitions = [{ name = "validation:rmse", regex = "validation:rmse=[0-9.]+" }] }
