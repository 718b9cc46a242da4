"""Large batches: the inference pipeline end to end at 1e5 and 1e6 rows (1e7 with --with-1e7) against a plain
pandas + xgboost script on the same data, and `data drop` of the file against a plain upload of it.

    .venv/bin/python benchmarks/bench_large_batch.py [--rows 100000 1000000] [--with-1e7] [--two-instances]
                                                      [--home DIR]
    .venv/bin/python benchmarks/bench_large_batch.py --drop-only [--rows 1000000] [--rounds 3]

One stack (benchmarks/bench_load.py's: the Terraform-applied local stack, a model trained and approved). Per size,
a batch of the demo schema (generated with a fixed seed) with its ground truth, then side by side in this run:

* plain upload: boto3 `upload_file` of the batch to the emulator (a prefix no rule watches);
* data drop: `batchops data drop`'s operation (the whole-file check, then the upload that starts the run);
* the inference run: from the drop to its end, each step's duration, the peak memory (RSS) and CPU time of each
  step's job process (sampled; the data-quality engine runs inside the runner process, so it has no process of its own);
* the plain script (plain_inference.py), in a fresh interpreter of the serving image's Python (the model's own
  xgboost version): read the batch, apply the model version's preprocessing, score with its model, write
  `key,prediction`, join the ground truth by key, RMSE; its wall and CPU time and peak memory.

`--drop-only` measures `data drop` alone, quickly: no Terraform and no pipeline run, the emulator with the stack's
bucket set up as the storage module sets it for a PUT (versioning, default SSE-KMS with a bucket key, EventBridge
notifications); per size, `--rounds` rounds of: plain upload, then `data drop` of the file, then the same for the
batch as a folder of 4 parts (plain upload of the parts; `data drop DIR` gzip-compresses each). Wall and CPU time
(the process's, which includes the in-process emulator's request handling) of each, the ratios per round and their
medians, and where the drop's time goes (its check, and a plain PutObject of the file, measured alone).

`--two-instances` upserts the pipelines with `compute.transform_instance_count` and
`compute.processing_instance_count` 1 and then 2, and scores the 1e6 batch again as a folder of four parts each
time (instances split objects, not rows: batch transform, the inference Preprocess and DataQualityCheckShards).
Wall times on a shared machine follow its load: the load average is printed with every number, and each ratio is
taken within one run. Targets (issue 24): pipeline at 1e6 within 3x the plain script; data drop within 2x the plain
upload; no step slower than reading its input twice (the plain script's read time is printed for that comparison).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load  # noqa: E402

from batchops import operations as ops  # noqa: E402
from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, REFERENCE, generate  # noqa: E402
from batchops_core import datasets  # noqa: E402
from batchops_local.runner import runtimes  # noqa: E402

# Steps whose job processes are sampled. A job process runs in its job directory, named `<execution>-<step>-<hex>`
# (runner.jobs.job_name): a cold process and one forked by the warm pool (whose command line is the pool's) alike.
SAMPLED_STEPS = ("ResolveModel", "Preprocess", "BatchTransform", "ModelQualityCheck", "PublishPredictions",
                 "LabelPredictions")
SEED = 2424
PLAIN_SCRIPT = Path(__file__).resolve().parent / "plain_inference.py"


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def write_batch(folder: Path, rows: int, *, parts: int = 0) -> tuple[Path, Path]:
    """The batch (one file, or a folder of `parts` part files) and its ground truth, deterministic."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate(REFERENCE, rows, seed=SEED + rows, id_prefix=f"r{rows}")
    truth = folder / f"batch-{rows}-ground-truth.csv"
    frame[[DEMO_RECORD_KEY, DEMO_TARGET]].to_csv(truth, index=False)
    features = frame.drop(columns=[DEMO_TARGET])
    if not parts:
        batch = folder / f"batch-{rows}.csv"
        features.to_csv(batch, index=False)
        return batch, truth
    batch = folder / f"batch-{rows}-parts"
    batch.mkdir(exist_ok=True)
    size = -(-rows // parts)
    for number in range(parts):
        features.iloc[number * size:(number + 1) * size].to_csv(batch / f"part-{number:05d}.csv", index=False)
    return batch, truth


class PeakMemory:
    """Peak RSS and CPU time (user + system) of each step's job processes, sampled every 0.2 s over this process's
    descendants: the largest RSS of any of its processes, the CPU time summed over them as last seen (up to 0.2 s
    before a process ended; a process forked by the warm pool counts from its fork, its imports already done)."""

    def __init__(self):
        import psutil

        self._psutil = psutil
        self.peaks: dict[str, int] = {}
        self._cpu: dict[str, dict[int, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def cpu(self) -> dict[str, float]:
        return {step: sum(by_pid.values()) for step, by_pid in self._cpu.items()}

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = self._psutil.Process()
        markers = {f"-{step.lower()}-": step for step in SAMPLED_STEPS}
        while not self._stop.wait(0.2):
            for process in me.children(recursive=True):
                try:
                    job = os.path.basename(process.cwd())
                    step = next((name for marker, name in markers.items() if marker in job), None)
                    if step is None:
                        continue
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                except self._psutil.Error:
                    continue
                self.peaks[step] = max(self.peaks.get(step, 0), rss)
                self._cpu.setdefault(step, {})[process.pid] = times.user + times.system


def plain_upload(target, path: Path) -> float:
    started = time.monotonic()
    target.client("s3").upload_file(str(path), target.settings.bucket, f"bench-plain/{path.name}")
    return time.monotonic() - started


@dataclasses.dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # this process's CPU time: the caller's and the in-process emulator's

    def ratio(self, base: Timed) -> str:
        return f"{self.wall / base.wall:.2f}x wall, {self.cpu / base.cpu:.2f}x CPU"

    def __str__(self) -> str:
        return f"{self.wall:.2f} s ({self.cpu:.2f} s CPU)"


def timed(action) -> Timed:
    wall, cpu = time.monotonic(), time.process_time()
    action()
    return Timed(time.monotonic() - wall, time.process_time() - cpu)


@contextlib.contextmanager
def drop_only_target(home: Path):
    """The emulator with the local environment's bucket as the storage module configures it for an upload."""
    from batchops.aws_session import connect
    from batchops_core.settings import load_settings
    from batchops_local.runtime import start_local_aws

    settings = load_settings("local")
    with start_local_aws(home, execution_handler=None) as local_aws:
        target = connect(settings, endpoint_url=local_aws.endpoint_url)
        s3, bucket = target.client("s3"), settings.bucket
        key = target.client("kms").create_key(Description="bench")["KeyMetadata"]["Arn"]
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
            "BucketKeyEnabled": True}]})
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration={"EventBridgeConfiguration": {}})
        yield target


def upload_files(s3, bucket: str, files: list[Path], prefix: str) -> None:
    for file in files:
        s3.upload_file(str(file), bucket, f"{prefix}/{file.name}")


def drop_only(work: Path, home: Path, sizes: list[int], rounds: int) -> None:
    """Plain upload vs `data drop`, a file and a folder of 4 parts, `rounds` times each; medians of the ratios."""
    with drop_only_target(home) as target:
        s3, bucket = target.client("s3"), target.settings.bucket
        for rows in sizes:
            batch, _ = write_batch(work / "data", rows)
            parts, _ = write_batch(work / "parts", rows, parts=4)
            ops.check_csv_schema(target.settings, batch, "inference")  # first use: imports, not the drop's cost
            ratios: dict[str, list[float]] = {"file": [], "folder": []}
            for number in range(rounds):
                for shape, path in (("file", batch), ("folder", parts)):
                    files = [path] if path.is_file() else sorted(path.iterdir())
                    plain = timed(functools.partial(upload_files, s3, bucket, files, f"bench-plain/{number}"))
                    drop = timed(functools.partial(ops.drop_paths, target, path, "inference",
                                                   rel_path=f"bench-drop/{number}/{path.name}"))
                    ratios[shape].append(drop.wall / plain.wall)
                    print(f"{rows:,} rows, {shape}, round {number + 1}: plain upload {plain}, data drop {drop}: "
                          f"{drop.ratio(plain)}; {load()}", flush=True)
            check = timed(functools.partial(ops.check_csv_schema, target.settings, batch, "inference"))
            folder_check = timed(functools.partial(ops.check_csv_schema, target.settings, parts, "inference",
                                                   as_one_dataset=True))
            with batch.open("rb") as body:
                put = timed(functools.partial(s3.put_object, Bucket=bucket, Key="bench-put/batch.csv", Body=body))
            print(f"  where a file's drop goes: its check {check}, a plain PutObject of it {put}; the folder's check "
                  f"{folder_check}; {load()}", flush=True)
            print(f"  median drop / plain upload: file {statistics.median(ratios['file']):.2f}x, folder "
                  f"{statistics.median(ratios['folder']):.2f}x (target <= 2x)", flush=True)


def score(target, path: Path, truth: Path, rel_path: str) -> dict:
    """Labels first (the run checks them), then `data drop` of the batch; the drop, the run and its steps. A folder
    batch's labels go to `<rel path>.csv`, one of the two places its ModelQualityCheck looks (`<rel path>/` the
    other)."""
    truth_path = rel_path if path.is_file() else rel_path + datasets.SINGLE_OBJECT_SUFFIX
    ops.drop_data(target, truth, "ground-truth", rel_path=truth_path)
    known = bench_load.execution_arns(target)
    with PeakMemory() as memory:
        started = time.monotonic()
        ops.drop_paths(target, path, "inference", rel_path=rel_path)
        drop = time.monotonic() - started
        fresh = ops.wait_for(lambda: bench_load.execution_arns(target) - known, timeout=600, what="the inference run")
        run = ops.wait_for_execution(target, fresh.pop(), timeout=bench_load.EXECUTION_TIMEOUT, poll=1.0)
        end_to_end = time.monotonic() - started
    steps = {step.name: step.duration_seconds for step in ops.execution_steps(target, run.arn)}
    return {"drop": drop, "run": run.duration_seconds or 0.0, "end_to_end": end_to_end, "status": run.status,
            "failure": run.failure_reason, "steps": steps, "peak_mb": {k: v / 2**20 for k, v in memory.peaks.items()},
            "cpu": memory.cpu}


def model_files(target, folder: Path) -> tuple[Path, Path, str]:
    """The active model version's xgboost model and preprocessing artefact, and the Python of the image that serves
    it, for the plain script."""
    sagemaker = target.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=ops.active_model_arn(target))
    container = package["InferenceSpecification"]["Containers"][0]
    model_url = container["ModelDataUrl"]
    artefact_url = package["CustomerMetadataProperties"]["PreprocessingArtefact"]
    s3 = target.client("s3")
    archive, artefact = folder / "model.tar.gz", folder / "preprocessing.json"
    for url, local in ((model_url, archive), (artefact_url, artefact)):
        bucket, key = url[len("s3://"):].split("/", 1)
        s3.download_file(bucket, key, str(local))
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "model")  # noqa: S202 (our own model archive)
    python = runtimes.interpreter_for(container["Image"], what="the plain script")
    return folder / "model" / "xgboost-model", artefact, python


def plain_script(python: str, batch: Path, truth: Path, model: Path, artefact: Path, output: Path) -> dict:
    """The same ML work as one script (plain_inference.py) in a fresh interpreter of the serving image's Python;
    its wall, CPU and peak memory."""
    command = [python, str(PLAIN_SCRIPT), str(batch), str(truth), str(model), str(artefact), str(output),
               DEMO_RECORD_KEY, DEMO_TARGET]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the plain script failed: {done.stderr[-2000:]}")
    return {**json.loads(done.stdout.splitlines()[-1]), "wall": wall,
            "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def report(rows: int, label: str, plain: dict, upload: float, outcome: dict) -> None:
    ratio = outcome["end_to_end"] / plain["wall"]
    print(f"{rows:,} rows, {label}: {outcome['status']}; drop {outcome['drop']:.1f} s vs plain upload {upload:.1f} s "
          f"({outcome['drop'] / upload:.1f}x); run {outcome['run']:.1f} s; end to end {outcome['end_to_end']:.1f} s "
          f"= {rows / outcome['end_to_end']:,.0f} rows/s; plain script {plain['wall']:.1f} s wall, "
          f"{plain['cpu']:.1f} s CPU (read {plain['read']:.1f} s, peak {plain['peak_mb']:.0f} MB, rmse "
          f"{plain['rmse']:.3f}): {ratio:.1f}x; {load()}", flush=True)
    print("  steps: " + ", ".join(f"{name} {seconds:.1f} s" + (
        f" ({outcome['peak_mb'][name]:.0f} MB, {outcome['cpu'][name]:.1f} s CPU)" if name in outcome["peak_mb"] else "")
        for name, seconds in outcome["steps"].items() if seconds is not None), flush=True)
    if outcome["failure"]:
        print(f"  failure: {outcome['failure']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--with-1e7", action="store_true", help="also 10,000,000 rows (takes long here)")
    parser.add_argument("--two-instances", action="store_true",
                        help="also the 1e6 batch as 4 parts with one and with two transform and processing "
                             "instances")
    parser.add_argument("--home", type=Path, help="BATCHOPS_HOME to use (default: a temporary folder)")
    parser.add_argument("--drop-only", action="store_true",
                        help="only `data drop` against a plain upload (no Terraform, no pipeline run)")
    parser.add_argument("--rounds", type=int, default=3, help="--drop-only: rounds per size (default 3)")
    args = parser.parse_args()
    sizes = sorted(set(args.rows + ([10_000_000] if args.with_1e7 else [])))
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-large-") as scratch:
        work = Path(scratch)
        home = (args.home or work / "home").resolve()
        if args.drop_only:
            drop_only(work, home, sizes, args.rounds)
            return 0
        print(f"setting up the stack; {load()}", flush=True)
        with bench_load.approved_stack(home) as (_, target):
            model, artefact, python = model_files(target, work)
            print(f"stack ready; {load()}", flush=True)
            for rows in sizes:
                batch, truth = write_batch(work / "data", rows)
                upload = plain_upload(target, batch)
                outcome = score(target, batch, truth, f"large/batch-{rows}.csv")
                plain = plain_script(python, batch, truth, model, artefact, work / "plain.csv")
                report(rows, "one file, 1 instance", plain, upload, outcome)
                ok = ok and outcome["status"] == "Succeeded"
                batch.unlink()
            if args.two_instances:
                rows = 1_000_000
                parts, truth = write_batch(work / "parts", rows, parts=4)
                plain = plain_script(python, write_batch(work / "single", rows)[0], truth, model, artefact,
                                     work / "p.csv")
                upload = sum(plain_upload(target, part) for part in sorted(parts.iterdir()))
                for count in (1, 2):
                    compute = target.settings.compute.model_copy(
                        update={"transform_instance_count": count, "processing_instance_count": count})
                    settings = target.settings.model_copy(update={"compute": compute})
                    scaled = dataclasses.replace(target, settings=settings)
                    ops.upsert_pipelines(scaled)
                    outcome = score(scaled, parts, truth, f"large/parts-{count}")
                    report(rows, f"4 parts, {count} transform and processing instance(s)", plain, upload, outcome)
                    ok = ok and outcome["status"] == "Succeeded"
    print("all runs succeeded" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
