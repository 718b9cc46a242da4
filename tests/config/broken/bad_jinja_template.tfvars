# expect: notifications.rules[0].subject: a valid Jinja2 template
notifications = {
  rules = [
    { step = "DataQualityCheck", status = "Succeeded", subject = "[{{ environment }] data quality report" },
  ]
}
