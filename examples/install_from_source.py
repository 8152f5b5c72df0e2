"""How this mltrack was installed, and what the framework extras install on each platform.

Read from the installed package's metadata: `direct_url.json` says whether mltrack is an
editable install of a source checkout, and each extra's requirements carry environment
markers, evaluated here for the platforms mltrack supports. Printed as Markdown.
"""

import importlib.metadata as metadata
import json
from pathlib import Path

from packaging.requirements import Requirement

import mltrack

dist = metadata.distribution("mltrack")
origin = json.loads(dist.read_text("direct_url.json") or "{}")
editable = bool(origin.get("dir_info", {}).get("editable"))
checkout = Path(mltrack.__file__).resolve().parents[1]
how = "an **editable install of a source checkout**" if editable else "installed from a wheel"
print(
    f"This mltrack {mltrack.__version__} is {how} (`direct_url.json`: editable = {editable});"
    f" `import mltrack` loads `{Path(mltrack.__file__).resolve().relative_to(checkout)}`"
    " from the checkout, next to its `pyproject.toml`.\n"
)

# platform_machine as Python reports it on each system (Windows says AMD64).
PLATFORMS = {
    "Linux x86-64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "Linux ARM64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macOS Apple silicon": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "macOS Intel": {"sys_platform": "darwin", "platform_machine": "x86_64"},
    "Windows x86-64": {"sys_platform": "win32", "platform_machine": "AMD64"},
}
EXTRAS = ["tensorflow", "torch", "xgboost-cpu", "lightgbm"]
requirements = [Requirement(text) for text in dist.requires or []]


def installs(extra: str, platform: dict[str, str]) -> str:
    """The packages `mltrack[extra]` installs on one platform, per its markers."""
    names = [
        str(req.specifier and f"{req.name}{req.specifier}" or req.name)
        for req in requirements
        if req.marker is not None and req.marker.evaluate({**platform, "extra": extra})
    ]
    return ", ".join(f"`{name}`" for name in names) or "nothing"


print("| Platform | " + " | ".join(f"`mltrack[{extra}]`" for extra in EXTRAS) + " |")
print("| --- " * (len(EXTRAS) + 1) + "|")
for label, platform in PLATFORMS.items():
    print(f"| {label} | " + " | ".join(installs(e, platform) for e in EXTRAS) + " |")

# --- checks ---
assert editable, "the docs are built from a source checkout, installed editable"
assert (checkout / "pyproject.toml").is_file(), checkout
assert installs("tensorflow", PLATFORMS["Linux x86-64"]) == "`tensorflow-cpu`"
assert installs("tensorflow", PLATFORMS["Windows x86-64"]) == "`tensorflow-cpu`"
assert installs("tensorflow", PLATFORMS["macOS Apple silicon"]) == "`tensorflow`"
assert installs("tensorflow", PLATFORMS["macOS Intel"]) == "nothing"
assert installs("xgboost-cpu", PLATFORMS["macOS Apple silicon"]) == "`xgboost`"
assert all(installs("lightgbm", p) == "`lightgbm`" for p in PLATFORMS.values())
