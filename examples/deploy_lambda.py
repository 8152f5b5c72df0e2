# livedocs: timeout=180
"""Ship to AWS Lambda: container image, handler and SAM template; invoke it locally.

The generated `handler.py` wraps the same predict logic as the HTTP server. Here it is
imported and called with an API Gateway HTTP API (payload v2) event, as Lambda would.
"""

import importlib.util
import json
import os

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y),
    name="iris-lambda",
    input_example=X.head(2),
    quiet=True,
)

result = mltrack.ship(
    "iris-lambda", to="lambda", dry_run=True, output_dir="build/iris-lambda", memory_mb=1024
)
print(result.summary())
print((result.output_dir / "template.yaml").read_text())

# In AWS the token comes from the template's ApiToken parameter.
os.environ["MLTRACK_API_TOKEN"] = "demo-token-for-this-example"
spec = importlib.util.spec_from_file_location("handler", result.output_dir / "handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)  # loads the model, like the Lambda init phase

event = {
    "version": "2.0",
    "rawPath": "/predict",
    "requestContext": {"http": {"method": "POST", "path": "/predict"}},
    "headers": {"authorization": "Bearer demo-token-for-this-example"},
    "body": json.dumps({"records": X.head(2).to_dict("records")}),
    "isBase64Encoded": False,
}
response = module.handler(event, None)
print(response["statusCode"], response["body"])

# --- checks ---
assert response["statusCode"] == 200, response
assert len(json.loads(response["body"])["predictions"]) == 2, response["body"]
template = (result.output_dir / "template.yaml").read_text()
assert "MemorySize: 1024" in template and "ApiToken" in template, template
denied = module.handler({**event, "headers": {"authorization": "Bearer wrong"}}, None)
assert denied["statusCode"] == 401, denied
