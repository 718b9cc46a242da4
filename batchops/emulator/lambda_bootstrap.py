"""Runs one Lambda invocation inside a fresh interpreter (standard library only).

The launcher runs this file's source with `python -c`, the extracted deployment package as working
directory and first on sys.path, and a request on stdin: {"handler", "event", "context", "result_path"}.
The handler's return value is written as JSON to `result_path`; an exception exits with status 1.
"""

import importlib
import json
import sys
import time
import traceback


class LambdaContext:
    def __init__(self, fields, deadline):
        self.function_name = fields["function_name"]
        self.function_version = fields.get("function_version", "$LATEST")
        self.invoked_function_arn = fields["invoked_function_arn"]
        self.memory_limit_in_mb = fields.get("memory_limit_in_mb", 128)
        self.aws_request_id = fields["aws_request_id"]
        self.log_group_name = fields.get("log_group_name", "/aws/lambda/" + self.function_name)
        self.log_stream_name = fields.get("log_stream_name", "local")
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main():
    request = json.load(sys.stdin)
    code_dir = request["code_dir"]
    if sys.path[:1] != [code_dir]:
        sys.path.insert(0, code_dir)
    module_name, _, function_name = request["handler"].rpartition(".")
    if not module_name:
        print(f"handler {request['handler']!r} must look like 'module.function'", file=sys.stderr)
        return 2
    deadline = time.monotonic() + request["context"].get("timeout_seconds", 30)
    handler = getattr(importlib.import_module(module_name), function_name)
    try:
        result = handler(request["event"], LambdaContext(request["context"], deadline))
    except Exception:
        traceback.print_exc()
        return 1
    with open(request["result_path"], "w", encoding="utf-8") as stream:
        json.dump(result, stream, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
