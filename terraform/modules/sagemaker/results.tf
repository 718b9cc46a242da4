# Publishing a scored batch's predictions (the step that publishes them): a grant of its own, so that the
# execution role's general S3 access can be narrowed to the outputs prefix without losing the results prefix.

variable "results_prefix" {
  description = "Key prefix (no trailing slash) under which each scored batch's predictions are published."
  type        = string
}

resource "aws_iam_role_policy" "publish_results" {
  count = local.create_execution_role ? 1 : 0

  name = "publish-results"
  role = aws_iam_role.execution[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteResultsPrefix"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = "${var.bucket_arn}/${var.results_prefix}/*"
      },
      {
        # The "results ready" event (batchops_core/contracts.py RESULTS_EVENT_SOURCE) on the default bus.
        Sid      = "ResultsReadyEvent"
        Effect   = "Allow"
        Action   = ["events:PutEvents"]
        Resource = "arn:${var.partition}:events:${var.region}:${var.account_id}:event-bus/default"
      },
    ]
  })
}
