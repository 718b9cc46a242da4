# expect: prefixes.outputs: a key prefix without leading/trailing '/' or spaces
prefixes = {
  outputs = "runs(1)"
}
