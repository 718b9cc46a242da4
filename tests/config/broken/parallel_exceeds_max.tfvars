# expect: hpo: max_parallel_jobs (9) exceeds max_jobs (4)
hpo = {
  max_jobs          = 4
  max_parallel_jobs = 9
}
