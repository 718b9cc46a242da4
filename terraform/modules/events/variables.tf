variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "bucket_name" {
  description = "Data bucket whose Object Created events start pipelines."
  type        = string
}

variable "training_prefix" {
  description = "Key prefix (no trailing slash) whose new .csv objects and trigger files start the training pipeline."
  type        = string
}

variable "inference_prefix" {
  description = "Key prefix (no trailing slash) whose new .csv objects and trigger files start the batch-inference pipeline."
  type        = string
}

variable "ground_truth_prefix" {
  description = "Key prefix (no trailing slash) whose new .csv objects and trigger files start the model-quality pipeline."
  type        = string
}

variable "trigger_file" {
  description = "File name that completes a folder dataset: its key starts one run over the folder's parts."
  type        = string
}

variable "pipeline_arns" {
  description = "SageMaker pipeline ARN per deployed pipeline key (training and training_hpo absent in a consumer)."
  type        = map(string)

  validation {
    condition     = length(setsubtract(["inference", "model_quality"], keys(var.pipeline_arns))) == 0
    error_message = "pipeline_arns needs the keys inference and model_quality (every environment scores)."
  }
}

variable "model_package_group" {
  description = "Model package group whose approval decisions go to the approval_trigger function."
  type        = string
}

variable "function_arns" {
  description = "ARN of the notification, approval_trigger and retrain_trigger functions."
  type = object({
    notification     = string
    approval_trigger = string
    retrain_trigger  = string
  })
}

variable "kms_key_arn" {
  description = "Key that encrypts the dead-letter queue (the pipeline starter role may use it)."
  type        = string
}

variable "schedules" {
  description = "Enabled schedules: pipeline key, cron/rate expression, pipeline parameters."
  type = list(object({
    pipeline   = string
    expression = string
    parameters = map(string)
  }))
}

variable "account_id" {
  description = "Account of the stack (the dead-letter queue's policy names its own and the rules' ARNs)."
  type        = string
}

variable "region" {
  description = "Region of the rules and the dead-letter queue."
  type        = string
}

variable "partition" {
  description = "AWS partition of the ARNs (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "notification_rules" {
  description = "notifications.rules of the env file: the status-change rule forwards only the statuses they can notify."
  type = list(object({
    pipeline = string
    step     = string
    status   = string
    mute     = bool
  }))
}

variable "contracts" {
  description = "The names shared with the pipelines and the Lambdas (terraform/contracts.json) that the rules match and pass."
  type = object({
    steps = object({ model_quality_violated = string })
    events = object({
      sagemaker_source              = string
      s3_source                     = string
      execution_status_detail_type  = string
      step_status_detail_type       = string
      model_package_detail_type     = string
      s3_object_created_detail_type = string
    })
    datasets                 = object({ single_object_suffix = string })
    parameters               = object({ input_bucket = string, input_key = string })
    model_quality_pipelines  = list(string)
    final_execution_statuses = list(string)
    # Statuses picked by meaning; the root module takes each from contracts.json's lists.
    failed_status      = string
    approval_decisions = list(string)
  })
}
