"""Hugging Face Transformers: track a pipeline and save it with the transformers flavor.

Needs the `transformers` and `torch` extras; without them the script says so and exits
cleanly. To stay offline and CPU-sized, the model is a tiny, randomly initialised BERT
with a word-level tokenizer built in the script: no download. With a real checkpoint,
replace the two `from_...` blocks with `pipeline("text-classification", model=NAME)`.
The script prints, as Markdown, what the run holds, read back from the tracking server.
"""

import importlib.util
import sys

missing = [name for name in ("transformers", "torch") if importlib.util.find_spec(name) is None]
if missing:
    print(f"{' and '.join(missing)} not installed: skipping this example.")
    print('Install the extras to run it: uv add "mltrack[transformers,torch]"')
    sys.exit(0)

import logging  # noqa: E402

import mlflow  # noqa: E402
import torch  # noqa: E402 - imported only when installed
import transformers  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    pipeline,
)

import mltrack  # noqa: E402

torch.manual_seed(0)
transformers.logging.disable_progress_bar()
# A model built in the script has no Hub model card or license: MLflow warns about both.
logging.getLogger("mlflow.transformers").setLevel(logging.ERROR)
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "great", "awful", "movie", "plot"]
backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
backend.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(
    tokenizer_object=backend,
    unk_token="[UNK]",
    pad_token="[PAD]",
    cls_token="[CLS]",
    sep_token="[SEP]",
)
config = BertConfig(
    vocab_size=len(words),
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    num_labels=2,
    id2label={0: "NEGATIVE", 1: "POSITIVE"},
    label2id={"NEGATIVE": 0, "POSITIVE": 1},
)
model = BertForSequenceClassification(config).eval()
classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)

with mltrack.run("tiny-bert", params={"hidden_size": 16, "layers": 1}) as run:
    predictions = classifier(["good movie", "awful plot"])
    run.log_metrics({"mean_score": sum(p["score"] for p in predictions) / len(predictions)})
    version = mltrack.save(classifier, "tiny-bert", input_example=["great movie"], quiet=True)


def run_table(run_id: str) -> str:
    """The run's params, metrics and artifacts, read back from the server, as Markdown."""
    client = mlflow.MlflowClient()
    data = client.get_run(run_id).data
    params = {k: " ".join(v.split()) for k, v in data.params.items()}  # one line each
    unset = sorted(k for k, v in params.items() if v == "None")
    rows = [f"| param | `{k}` | `{v}` |" for k, v in sorted(params.items()) if v != "None"]
    if unset:
        rows.append(f"| param | {len(unset)} more, all `None` | {', '.join(unset)} |")
    for key, value in sorted(data.metrics.items()):
        steps = len(client.get_metric_history(run_id, key))
        last_of = f" (last of {steps})" if steps > 1 else ""
        rows.append(f"| metric | `{key}` | {value:.3f}{last_of} |")
    rows += [f"| artifact | `{a.path}` | |" for a in client.list_artifacts(run_id)]
    return "\n".join(["| Recorded | Name | Value |", "| --- | --- | --- |", *rows])


labels = ", ".join(f"{p['label']} {p['score']:.4f}" for p in predictions)
print(f"Predictions: {labels}. Saved `{version}`, flavor `{version.flavor}`.\n")
print(run_table(run.id))

# --- checks ---

assert len(predictions) == 2 and {p["label"] for p in predictions} <= {"NEGATIVE", "POSITIVE"}
logged = mlflow.MlflowClient().get_run(run.id).data
assert logged.params["hidden_size"] == "16" and "mean_score" in logged.metrics, logged
assert version.flavor == "transformers", version.flavor
assert set(logged.params) == {"hidden_size", "layers"}, "autologging adds nothing to inference"
assert not mlflow.MlflowClient().list_artifacts(run.id), "the model is in the registry"
