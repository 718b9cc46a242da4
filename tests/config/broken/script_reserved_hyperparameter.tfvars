# expect: script.hyperparameters: 'sagemaker_program' is reserved by the framework containers (sagemaker_*: the pipelines set sagemaker_program and sagemaker_submit_directory from entry_point and source_dir)
script = { hyperparameters = { n_estimators = "100", sagemaker_program = "other.py" } }
