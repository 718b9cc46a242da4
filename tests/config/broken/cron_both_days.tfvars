# expect: exactly one of day-of-month and day-of-week must be '?'
schedules = [
  { pipeline = "training_hpo", expression = "cron(0 3 1 * SUN *)" },
]
