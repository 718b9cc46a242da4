# expect: not valid HCL
project = "abalone
