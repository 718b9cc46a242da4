# expect: region: defined twice (lines 2 and 3)
region = "us-east-1"
region = "eu-west-1"
