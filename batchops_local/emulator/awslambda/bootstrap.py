"""A warm Lambda execution environment: imports the handler once, then serves invocations one at a time.

Standard library only. The launcher runs this file's source with `python -c SOURCE RESPONSE_FD`, the
extracted deployment package as working directory and the function's environment. Requests arrive on
stdin, one JSON object a line: {"handler", "code_dir", "event", "context", "stdout_path", "stderr_path"}.
For each, one JSON line goes to RESPONSE_FD: {"rc", "result", "error", "cpu_s", "init_failed"}; rc 0 = the
handler returned, 1 = it raised (traceback on the captured stderr), 2 = the handler setting is malformed. A module
that cannot be imported answers rc 1 and ends the environment (as a failed init does on AWS). `error` is the
Python runtime's error object for a failure: errorMessage, errorType (the exception's class name, or the
runtime's `Runtime.*` type for a handler that cannot be loaded) and stackTrace (the handler's frames, formatted
one string each), the `responsePayload` of an on-failure record and the body of a failed synchronous Invoke
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html).

The handler's stdout and stderr (file descriptors 1 and 2, so child processes too) go to the request's
capture files; stdin is /dev/null, so a handler never reads the protocol stream.
"""

import importlib
import json
import os
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


def _cpu_seconds():
    return time.process_time()  # this process's user + system time since it started, finer than os.times()


class _CapturedOutput:
    """Points file descriptors 1 and 2 at one invocation's capture files, and back afterwards."""

    def __init__(self, stdout_path, stderr_path):
        self.paths = (stdout_path, stderr_path)

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        for target, path in zip((1, 2), self.paths, strict=True):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(descriptor, target)
            os.close(descriptor)
        return self

    def __exit__(self, *exc_info):
        sys.stdout.flush()
        sys.stderr.flush()
        for target, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, target)
            os.close(saved)
        return False


class Environment:
    def __init__(self):
        self.handler = None
        self.handler_setting = None

    def load(self, request):
        """Import the handler on the first invocation; (rc, error object) when that fails."""
        if self.handler is not None:
            return None
        code_dir = request["code_dir"]
        if sys.path[:1] != [code_dir]:
            sys.path.insert(0, code_dir)
        module_name, _, function_name = request["handler"].rpartition(".")
        if not module_name:
            message = f"Bad handler '{request['handler']}': expected 'module.function'"
            print(message, file=sys.stderr)
            return 2, error_object("Runtime.MalformedHandlerName", message)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            traceback.print_exc()
            return 1, error_object("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
        self.handler = getattr(module, function_name, None)
        if self.handler is None:
            message = f"Handler '{function_name}' missing on module '{module_name}'"
            print(message, file=sys.stderr)
            return 1, error_object("Runtime.HandlerNotFound", message)
        return None

    def invoke(self, request):
        cold = self.handler is None
        cpu_before = 0.0 if cold else _cpu_seconds()  # a cold start also pays the interpreter's start
        answer = {"rc": 0, "result": None, "error": None, "init_failed": False}
        with _CapturedOutput(request["stdout_path"], request["stderr_path"]):
            failed_init = self.load(request)
            if failed_init is not None:
                answer.update(rc=failed_init[0], error=failed_init[1], init_failed=True)
            else:
                deadline = time.monotonic() + request["context"].get("timeout_seconds", 30)
                try:
                    result = self.handler(request["event"], LambdaContext(request["context"], deadline))
                    answer["result"] = json.loads(json.dumps(result, default=str))
                except Exception as exc:
                    traceback.print_exc()
                    # The first frame is this call; the runtime reports the handler's frames only.
                    frames = traceback.extract_tb(exc.__traceback__)[1:]
                    answer.update(rc=1, error=error_object(type(exc).__name__, str(exc), frames))
        answer["cpu_s"] = round(_cpu_seconds() - cpu_before, 4)
        return answer


def error_object(error_type, message, frames=()):
    return {"errorMessage": message, "errorType": error_type, "stackTrace": traceback.format_list(frames)}


def main():
    responses = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    environment = Environment()
    for line in requests:
        if not line.strip():
            continue
        answer = environment.invoke(json.loads(line))
        responses.write(json.dumps(answer) + "\n")
        responses.flush()
        if answer["init_failed"]:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
