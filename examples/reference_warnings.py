"""mltrack's warning classes, as a Markdown table for the error reference.

Printed from the classes' docstrings, so the table cannot drift from the code.
"""

import inspect

import mltrack.llm as llm

print("| Warning class | Issued when |")
print("| --- | --- |")
for name in sorted(name for name in llm.__all__ if name.endswith("Warning")):
    summary = (inspect.getdoc(getattr(llm, name)) or "").split("\n\n")[0].replace("``", "`")
    print(f"| `mltrack.llm.{name}` | {' '.join(summary.split())} |")

# --- checks ---
names = [name for name in llm.__all__ if name.endswith("Warning")]
assert {"BudgetWarning", "UnknownModelPriceWarning"} <= set(names), names
assert all(issubclass(getattr(llm, name), Warning) for name in names)
assert all(inspect.getdoc(getattr(llm, name)) for name in names), "each one is documented"
