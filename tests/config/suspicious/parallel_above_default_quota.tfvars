# expect: hpo.max_parallel_jobs: warning: 11 is above SageMaker's default quota of 10 parallel training jobs per hyperparameter tuning job (MaxParallelTrainingJobs): request an increase (up to 100) before the first tuning run
hpo = {
  max_jobs          = 40
  max_parallel_jobs = 11
}
