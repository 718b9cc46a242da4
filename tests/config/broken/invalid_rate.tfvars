# expect: schedules[0].expression: expected 'rate(N minutes|hours|days)'
schedules = [
  { pipeline = "training_hpo", expression = "rate(5 fortnights)" },
]
