# expect: notifications.rules[0].status: one of Starting, Executing
notifications = {
  rules = [
    { step = "DataQualityCheck", status = "Done" },
  ]
}
