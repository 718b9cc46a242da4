# expect: prefixes: prefixes must not overlap: training='data/training' and inference='data/training/batches'
prefixes = {
  inference = "data/training/batches"
}
