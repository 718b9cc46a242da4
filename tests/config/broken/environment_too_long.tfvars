# expect: environment: 'diabetes-and-other-data-sets-eu2' is too long: the EventBridge rule name 'abalone-diabetes-and-other-data-sets-eu2-retrain-on-model-quality' would have 65 characters, AWS allows 64; with project 'abalone' an environment name has at most 31 characters
environment = "diabetes-and-other-data-sets-eu2"
