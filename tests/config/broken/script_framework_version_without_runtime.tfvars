# expect: script: framework_version: sklearn runs locally in version 1.2-1, found '0.23-1'
script = { framework = "sklearn", framework_version = "0.23-1" }
