# expect: script.metric_definitions[0].regex: not a valid regular expression (missing ), unterminated subpattern at position 16): 'validation:rmse=([0-9.]+'
script = { metric_definitions = [{ name = "validation:rmse", regex = "validation:rmse=([0-9.]+" }] }
