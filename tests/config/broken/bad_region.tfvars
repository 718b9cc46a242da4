# expect: region: an AWS region such as 'us-east-1', found 'mars-1'
region = "mars-1"
