"""The local harness: an AWS emulator and a SageMaker pipeline runner that stand in for AWS on one machine.

Optional: installed with the `local` extra (`pip install batchops[local]`), which brings moto and the
algorithm libraries the runner needs. The product (`batchops`, `pipelines`, `lambdas`) never needs it on AWS.
"""
