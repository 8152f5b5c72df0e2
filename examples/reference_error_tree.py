"""The error hierarchy as a Mermaid class diagram, for the error reference.

Printed from the classes in ``mltrack.errors``, so the diagram cannot drift from the code.
"""

import mltrack.errors as errors

print("```mermaid")
print("classDiagram")
for name in errors.__all__:
    cls = getattr(errors, name)
    for base in cls.__bases__:
        if base.__module__ == errors.__name__ or cls is errors.MltrackError:
            print(f"  {base.__name__} <|-- {name}")
        else:  # the built-in exception it also is, so `except LookupError` catches it
            print(f"  <<{base.__name__}>> {name}")
print("```")

# --- checks ---
# Every class is a subclass of MltrackError, so `except MltrackError` catches them all.
assert all(issubclass(getattr(errors, name), errors.MltrackError) for name in errors.__all__)
assert issubclass(errors.MltrackError, Exception)
