# expect: script: entry_point: 'pipelines/scripts/evaluate.py' is not inside source_dir 'examples/sklearn_model' (the container runs the entry point from the uploaded source directory)
script = { source_dir = "examples/sklearn_model", entry_point = "pipelines/scripts/evaluate.py" }
