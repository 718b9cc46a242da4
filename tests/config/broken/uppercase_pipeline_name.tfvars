# expect: pipelines.inference_name: a lower-case name
pipelines = {
  inference_name = "Abalone-Local-Inference"
}
