"""The error reference, generated from mltrack's exception classes.

Every class in `mltrack.errors` is listed with its place in the hierarchy and its
docstring, which states the cause and the fix. A new error class appears here as soon as
it is added to the module.
"""

import inspect
import textwrap

import mltrack.errors as errors

classes = [getattr(errors, name) for name in errors.__all__]
classes.sort(key=lambda cls: (cls is not errors.MltrackError, cls.__name__))

print(f"{len(classes)} exception classes in mltrack.errors\n")
for cls in classes:
    bases = ", ".join(base.__name__ for base in cls.__bases__)
    doc = (inspect.getdoc(cls) or "(no docstring)").replace("``", "`")
    summary, _, details = doc.partition("\n\n")
    print(f"\033[1;36m{cls.__name__}\033[0m({bases})")
    print(textwrap.indent(textwrap.fill(summary, 88), "  "))
    if details:
        for paragraph in details.split("\n\n"):
            print(textwrap.indent(textwrap.fill(" ".join(paragraph.split()), 88), "  "))
    print()

# --- checks ---
assert len(classes) == len(errors.__all__) and classes[0] is errors.MltrackError
assert all(inspect.getdoc(cls) for cls in classes), "every error class states cause and fix"
