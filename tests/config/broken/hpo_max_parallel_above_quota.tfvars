# expect: hpo: max_parallel_jobs (101) exceeds SageMaker's limit of 100 parallel training jobs per hyperparameter tuning job (MaxParallelTrainingJobs)
hpo = {
  max_jobs          = 200
  max_parallel_jobs = 101
}
