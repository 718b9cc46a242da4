# expect: script.entry_point: no file 'examples/sklearn_model/trian.py' in the repository
script = { entry_point = "examples/sklearn_model/trian.py" }
