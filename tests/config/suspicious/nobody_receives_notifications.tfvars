# expect: notifications.recipients: warning: empty and no slack_webhook_secret_name: final execution statuses and failed steps reach nobody
# remove: notifications.rules
notifications = {
  recipients = []
}
