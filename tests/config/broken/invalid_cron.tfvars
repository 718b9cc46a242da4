# expect: schedules[0].expression: a cron expression has 6 fields
schedules = [
  { pipeline = "training_hpo", expression = "cron(0 3 * * *)" },
]
