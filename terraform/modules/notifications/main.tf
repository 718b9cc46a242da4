resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = var.kms_key_arn
}

# Plain `email`: recipients get the readable text the notification Lambda renders, not a JSON envelope.
resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.recipients)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}
