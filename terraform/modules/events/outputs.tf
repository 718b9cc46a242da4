output "rule_names" {
  description = "EventBridge rule name per rule key."
  value = merge(
    { for key, rule in aws_cloudwatch_event_rule.pipeline : key => rule.name },
    { for key, rule in aws_cloudwatch_event_rule.function : key => rule.name },
  )
}

output "dead_letter_queue_arn" {
  description = "ARN of the queue that receives events no target could take."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_url" {
  description = "URL of the queue that receives events no target could take."
  value       = aws_sqs_queue.dead_letter.url
}
