output "rule_names" {
  description = "EventBridge rule name per rule key."
  value = merge(
    { for key, rule in aws_cloudwatch_event_rule.pipeline : key => rule.name },
    { for key, rule in aws_cloudwatch_event_rule.function : key => rule.name },
  )
}

output "dead_letter_queue_url" {
  description = "URL of the queue that receives events no target could take."
  value       = aws_sqs_queue.dead_letter.url
}

output "rules" {
  description = "Every rule with its pattern or schedule and its one target (what starts what)."
  value = merge(
    {
      for key, rule in aws_cloudwatch_event_rule.pipeline : key => {
        name                = rule.name
        event_pattern       = rule.event_pattern
        schedule_expression = rule.schedule_expression
        target_arn          = aws_cloudwatch_event_target.pipeline[key].arn
        target_role_arn     = aws_cloudwatch_event_target.pipeline[key].role_arn
        pipeline_parameters = { for p in aws_cloudwatch_event_target.pipeline[key].sagemaker_pipeline_target[0].pipeline_parameter_list : p.name => p.value }
        retry_policy        = aws_cloudwatch_event_target.pipeline[key].retry_policy[0]
        dead_letter_arn     = aws_cloudwatch_event_target.pipeline[key].dead_letter_config[0].arn
      }
    },
    {
      for key, rule in aws_cloudwatch_event_rule.function : key => {
        name                = rule.name
        event_pattern       = rule.event_pattern
        schedule_expression = rule.schedule_expression
        target_arn          = aws_cloudwatch_event_target.function[key].arn
        target_role_arn     = aws_cloudwatch_event_target.function[key].role_arn
        pipeline_parameters = {}
        retry_policy        = aws_cloudwatch_event_target.function[key].retry_policy[0]
        dead_letter_arn     = aws_cloudwatch_event_target.function[key].dead_letter_config[0].arn
      }
    },
  )
}

output "notified_statuses" {
  description = "Statuses forwarded to the notification function per event kind (execution, step); null: every status."
  value       = local.notified_statuses
}

output "pipeline_starter_role_arn" {
  description = "Role EventBridge assumes to start the pipelines (published once its policy is attached)."
  value       = aws_iam_role.pipeline_starter.arn
  depends_on  = [aws_iam_role_policy.pipeline_starter]
}

output "policy_documents" {
  description = "The pipeline starter role's policy and the dead-letter queue's resource policy (for review and tests)."
  value = {
    pipeline_starter         = local.pipeline_starter_policy
    events_dead_letter_queue = local.dead_letter_queue_policy
  }
}
