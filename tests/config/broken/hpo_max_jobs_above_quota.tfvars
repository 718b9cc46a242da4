# expect: hpo: max_jobs (100000000) exceeds SageMaker's limit of 10000 training jobs per Random-search tuning job (MaxNumberOfTrainingJobs)
hpo = {
  max_jobs = 100000000
}
