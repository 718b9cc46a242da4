# expect: hpo: max_jobs (751) exceeds SageMaker's limit of 750 training jobs per Bayesian-optimization tuning job (MaxNumberOfTrainingJobs)
hpo = {
  strategy = "Bayesian"
  max_jobs = 751
}
