# expect: hpo.max_jobs: warning: 1000 is above SageMaker's default quota of 750 training jobs per Random-search tuning job (MaxNumberOfTrainingJobs): request an increase (up to 10000) before the first tuning run
hpo = {
  max_jobs = 1000
}
