# expect: script.source_dir: a path inside the repository, relative to its root, found '../elsewhere'
script = { source_dir = "../elsewhere" }
