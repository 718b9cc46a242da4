# expect: network.network_isolation[1]: expected one of 'preprocess', 'data_quality', 'evaluate', 'training' or 'transform', found 'resolve_model'
network = {
  network_isolation = ["training", "resolve_model"]
}
