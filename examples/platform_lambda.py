"""AWS Lambda: image size, cold start vs warm latency, and adding a VPC to the template.

`mltrack.ship(..., to="lambda")` writes a container image context (Lambda's image limit
is 10 GB, far above a zip's 250 MB), a handler and a SAM template. The script measures
the build context, times the handler's init phase (the cold start: imports + model load)
against warm invocations, and adds a `VpcConfig` to the template with plain YAML tools.
"""
# livedocs: snapshot_mask=(?<=mltrack\s)\s*[0-9.]+\sMB

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), "iris-fn", input_example=X.head(2), quiet=True
)
mltrack.promote("iris-fn", saved.version)
result = mltrack.ship("iris-fn", to="lambda", dry_run=True, output_dir="build", memory_mb=2048)


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


for name in ("model", "mltrack", "requirements.txt"):
    print(f"{name:<17} {size_mb(result.output_dir / name):7.2f} MB")
requirements = (result.output_dir / "requirements.txt").read_text().split()
print(f"{len(requirements)} pinned requirements installed into the image at build time")

# Cold start: a fresh interpreter importing the handler (imports + model load), which is
# what Lambda's init phase does once per execution environment.
os.environ["MLTRACK_API_TOKEN"] = "demo-token-for-this-example"
started = time.perf_counter()
subprocess.run([sys.executable, "-c", "import handler"], cwd=result.output_dir, check=True)
cold_ms = (time.perf_counter() - started) * 1000

spec = importlib.util.spec_from_file_location("handler", result.output_dir / "handler.py")
handler = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler)  # the same init, in this process, to invoke it warm

event = {
    "version": "2.0",
    "rawPath": "/predict",
    "requestContext": {"http": {"method": "POST", "path": "/predict"}},
    "headers": {"authorization": "Bearer demo-token-for-this-example"},
    "body": json.dumps({"records": X.head(1).to_dict("records")}),
    "isBase64Encoded": False,
}
warm = []
for _ in range(20):
    started = time.perf_counter()
    response = handler.handler(event, None)
    warm.append((time.perf_counter() - started) * 1000)
print(
    f"\ninit phase (cold start work): {cold_ms:.0f} ms; warm invocation p50 "
    f"{sorted(warm)[10]:.1f} ms -> {response['statusCode']} {response['body']}"
)

# VPC: private subnets and a security group, added to the generated SAM template.
template_path = result.output_dir / "template.yaml"
template = yaml.safe_load(template_path.read_text())
function = next(
    r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
)
function["Properties"]["VpcConfig"] = {
    "SubnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
}
template_path.write_text(yaml.safe_dump(template, sort_keys=False))
print("\nProperties of the function after adding the VPC:")
print(yaml.safe_dump(function["Properties"], sort_keys=False))
print("\n".join(result.commands))

# --- checks ---
assert response["statusCode"] == 200, response
assert len(json.loads(response["body"])["predictions"]) == 1
stored = yaml.safe_load(template_path.read_text())
function = next(r for r in stored["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
assert function["Properties"]["VpcConfig"]["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
assert "MemorySize: 2048" in template_path.read_text(), "the memory_mb option"
assert len(warm) == 20 and sorted(warm)[10] < cold_ms, "warm calls are faster than the init"
