# expect: script.entry_point: a Python file (.py), found 'env_files/local.tfvars'
script = { source_dir = "env_files", entry_point = "env_files/local.tfvars" }
