"""Every `MLTRACK_*` settings variable, generated from the settings model.

A key `x` of `.mltrack.yml` is `MLTRACK_X`; a key `y` of section `s` is `MLTRACK_S__Y`
(two underscores). The script walks `mltrack.config.Settings`, prints each variable with
its type and default, and proves the mapping by loading one override.
"""

import json
import os

from pydantic import BaseModel

from mltrack.config import ENV_PREFIX, Settings, load_settings


def rows(model: type[BaseModel], section: str = ""):
    for key, field in model.model_fields.items():
        if field.exclude:
            continue  # read-only values computed by load_settings
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{key.upper()}__")
            continue
        default = field.get_default(call_default_factory=True)
        type_name = (
            str(annotation)
            .replace("typing.", "")
            .replace("<class '", "")
            .replace("'>", "")
            .replace("mltrack.config.", "")
        )
        yield f"{ENV_PREFIX}{section}{key.upper()}", type_name, json.dumps(default)


table = list(rows(Settings))
width = max(len(name) for name, _, _ in table)
for name, type_name, default in table:
    print(f"{name:<{width}}  {type_name:<26} default {default}")

os.environ["MLTRACK_LLM__BUDGET_USD"] = "5"
os.environ["MLTRACK_AUTOLOG_FRAMEWORKS"] = "[sklearn, xgboost]"
settings = load_settings()
print(
    f"\n{len(table)} variables. With MLTRACK_LLM__BUDGET_USD=5 and "
    f"MLTRACK_AUTOLOG_FRAMEWORKS='[sklearn, xgboost]':"
)
print("  settings.llm.budget_usd =", settings.llm.budget_usd)
print("  settings.autolog_frameworks =", settings.autolog_frameworks)

# --- checks ---
names = [name for name, _, _ in table]
assert "MLTRACK_LLM__BUDGET_USD" in names and "MLTRACK_AUTOLOG_FRAMEWORKS" in names, names
assert len(names) == len(set(names)) and all(n.startswith("MLTRACK_") for n in names)
assert settings.llm.budget_usd == 5.0, settings.llm.budget_usd
assert list(settings.autolog_frameworks) == ["sklearn", "xgboost"], settings.autolog_frameworks
