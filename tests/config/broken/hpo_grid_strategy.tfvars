# expect: hpo.strategy: Grid is not supported: AWS grid search takes categorical ranges only
hpo = {
  strategy = "Grid"
}
