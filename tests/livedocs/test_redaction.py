"""No secret is ever published: every channel, every fragment (issue 19, section 1).

The fast tests check the redactor on strings. The channel tests build one small site
(`mkdocs build`, real MLflow server, real kernel) whose examples print secrets in every
way a reader could see them, then walk the bytes of every file under the built site, the
cache and the snapshots: the secret and each of its fragments of 8 characters or more
must be in none of them, also once colours, HTML tags, line wraps, JSON escapes and
base64 data URIs are undone.
"""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mltrack.errors import ConfigError
from mltrack.livedocs.redact import (
    REDACTED,
    Redactor,
    Scrubber,
    compile_patterns,
    redact_notebook,
    secret_values,
)
from tests._helpers import notebook_json
from tests.livedocs.test_livedocs_build import build_env, make_project, mkdocs

# -- the redactor on strings ----------------------------------------------------------


def test_secret_split_by_colour_codes_is_redacted_and_surrounding_colours_kept() -> None:
    redact = Redactor(["QApass-Zebra-42"])
    # What rich prints for `password=QApass-Zebra-42` with force_terminal=True.
    coloured = (
        "\x1b[33mpassword\x1b[0m=\x1b[35mQApass\x1b[0m-Zebra-\x1b[1;36m42\x1b[0m "
        "\x1b[32mafter\x1b[0m"
    )
    out = redact(coloured)
    assert out.startswith("\x1b[33mpassword\x1b[0m=\x1b[35m[redacted]")
    assert out.endswith(" \x1b[32mafter\x1b[0m")
    visible = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert visible == "password=[redacted] after"


def test_secret_in_a_hyperlink_target_is_redacted() -> None:
    link = "\x1b]8;id=1;https://u:hunter2-pw@db.example/x\x1b\\database\x1b]8;;\x1b\\ ok"
    out = Redactor(["hunter2-pw"])(link)
    assert "hunter2-pw" not in out and out.endswith("database\x1b]8;;\x1b\\ ok")


def test_secret_split_by_a_terminal_wrap_and_its_indentation_is_redacted() -> None:
    secret = "wrap" + "0123456789abcdef" * 6
    wrapped = f"    token={secret[:40]}   \n    {secret[40:]}\nnext line"
    assert Redactor([secret])(wrapped) == "    token=[redacted]\nnext line"
    # a secret with a space may be wrapped at the space, which the wrap removes
    assert Redactor(["open sesame"])("say open\n  sesame now") == "say [redacted] now"


def test_every_fragment_of_eight_characters_or_more_is_redacted() -> None:
    secret = "Bearer abcd1234efgh.ijkl5678mnop:short=qrst9012uvwx"
    redact = Redactor([secret], shapes=False)
    printed = "abcd1234efgh ijkl5678mnop qrst9012uvwx short Bearer"
    assert redact(printed) == "[redacted] [redacted] [redacted] short Bearer"


def test_escaped_forms_of_a_secret_are_redacted() -> None:
    secret = 'pa"ss&wo\\rd<x>'
    redact = Redactor([secret], shapes=False)
    for printed in (json.dumps(secret), repr(secret), html.escape(secret)):
        assert redact(printed).count(REDACTED) == 1, printed
    assert (
        redact("postgresql://u:pa%22ss%26wo%5Crd%3Cx%3E@db/x") == "postgresql://u:[redacted]@db/x"
    )


@pytest.mark.parametrize(
    "token",
    [
        "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12",
        "sk-ant-api03-Zy98Xw76Vu54Ts32Rq10",
        "ghp_" + "A1b2C3d4E5" * 4,
        "github_pat_11ABCDEFG0" + "x1y2z3" * 5,
        "AKIAIOSFODNN7EXAMPLE",
        "hf_" + "AbCdEf1234" * 3,
        "xoxb-1234567890-0987654321-AbCdEfGh",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM",
    ],
)
def test_well_known_token_shapes_are_redacted_whatever_holds_them(token: str) -> None:
    assert Redactor()(f"value: {token} (end)") == "value: [redacted] (end)"


@pytest.mark.parametrize(
    ("text", "published"),
    [
        (
            "DATABASE_URL=postgresql://mlflow:pa55-w0rd@db:5432/x",  # a name no rule knows
            "DATABASE_URL=postgresql://mlflow:[redacted]@db:5432/x",
        ),
        ("http://admin:Adm1n-4f2a@127.0.0.1:5000/", "http://admin:[redacted]@127.0.0.1:5000/"),
        # placeholders and redacted URIs are what a reader should see
        ("postgresql://USER:PASSWORD@HOST:5432/DB", "postgresql://USER:PASSWORD@HOST:5432/DB"),
        ("http://bob:***@127.0.0.1:5000", "http://bob:***@127.0.0.1:5000"),
        ("http://127.0.0.1:5000/a@b", "http://127.0.0.1:5000/a@b"),
    ],
)
def test_the_password_of_a_url_is_redacted_whatever_variable_held_it(
    text: str, published: str
) -> None:
    assert Redactor()(text) == published


def test_bearer_keeps_the_word_and_prose_is_left_alone() -> None:
    redact = Redactor()
    assert redact("Authorization: Bearer x9Y8z7W6v5U4") == "Authorization: Bearer [redacted]"
    assert redact("Bearer demo-token-for-this-example.") == "Bearer [redacted]."
    prose = (
        "Bearer authentication, Bearer $MLTRACK_API_TOKEN, Bearer <token>, sk-ant-fake, "
        "uses Bearer authentication."
    )
    assert redact(prose) == prose


def test_a_token_shape_wrapped_at_the_end_of_a_long_line_is_redacted_whole() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0." + "Sfl9Kxw" * 10
    line = "x" * 40 + " " + token
    wrapped = line[:88] + "\n" + line[88:] + "\nDone"
    assert Redactor()(wrapped) == "x" * 40 + " [redacted]\nDone"
    # a short line that ends with a token: the next line is not part of it
    short = "header: Bearer hdr-5a8f0c2e9d1b4e7f8a3c6b0d2e9f1a4c\nopenai key follows"
    assert Redactor()(short) == "header: Bearer [redacted]\nopenai key follows"


def test_configured_names_and_patterns() -> None:
    env = {
        "SERVICE_AUTH": "svc-auth-value-1",
        "ACME_CREDENTIAL": "acme-cred-value",
        "DB_PASSWORD": "hunter22",
        "HOME": "/root",
        "X_TOKEN": "1",
    }
    found = secret_values(["PASSWORD", "TOKEN"], env, names=["service_auth", "ACME_*"])
    assert set(found) == {"svc-auth-value-1", "acme-cred-value", "hunter22"}
    patterns = compile_patterns([r"internal-\d{6}", r"ticket=(?P<secret>\w{6,})"])
    redact = Redactor(found, patterns)
    assert redact("id internal-123456 ticket=abc123def") == "id [redacted] ticket=[redacted]"


def test_invalid_pattern_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    from mltrack.config import load_settings

    (tmp_path / ".mltrack.yml").write_text("docs:\n  redact_patterns: ['ok-\\d+', 'bad(']\n")
    with pytest.raises(ConfigError) as info:
        load_settings(start=tmp_path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert "docs.redact_patterns" in message and "'bad('" in message
    assert "not a valid regular expression" in message
    with pytest.raises(ConfigError, match=r"docs\.redact_patterns\[0\]: .*empty string"):
        compile_patterns([".*"])


def test_scrubber_replaces_a_temp_path_a_terminal_wrapped() -> None:
    cwd = "/tmp/mltrack-livedocs-4242-99-4026531836-abcd/items/examples-deploy-py-f2a7ba/cwd"
    scrub = Scrubber([], {cwd + "/": "", cwd: ".", cwd.split("/items")[0]: "<tmp>"})
    wrapped = f"wrote {cwd[:60]}\n{cwd[60:]}/build/docker, kept {cwd.split('/items')[0]}/log"
    assert scrub(wrapped) == "wrote build/docker, kept <tmp>/log"


def test_scrubber_redacts_then_replaces_build_paths() -> None:
    scrub = Scrubber(Redactor(["sk-abcdef"]), {"http://127.0.0.1:5123": "http://localhost:5000"})
    assert (
        scrub("key=sk-abcdef at http://127.0.0.1:5123") == "key=[redacted] at http://localhost:5000"
    )
    assert scrub.data({"k": ["sk-abcdef", 3]}) == {"k": ["[redacted]", 3]}


def test_notebook_outputs_of_every_mime_type_are_redacted() -> None:
    secret = "nb-secret-" + uuid.uuid4().hex
    png = base64.b64encode(b"\x89PNG not text").decode()
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": "print(s)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": [secret[:5], secret[5:]]},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "application/json": {"nested": {"key": secret, "list": [secret]}},
                            "image/svg+xml": [f"<svg><text>{secret}</text></svg>"],
                            "text/html": f"<b>{secret}</b>",
                            "text/markdown": f"**{secret}**",
                            "text/latex": f"$\\text{{{secret}}}$",
                            "application/javascript": f"console.log('{secret}')",
                            "image/png": png,
                        },
                    },
                    {
                        "output_type": "error",
                        "ename": "ValueError",
                        "evalue": secret,
                        "traceback": [f"ValueError: {secret}"],
                    },
                ],
            }
        ],
        "metadata": {},
    }
    out = json.dumps(redact_notebook(nb, Redactor([secret])))
    assert secret not in out
    data = nb["cells"][0]["outputs"][1]["data"]  # type: ignore[index]
    assert data["application/json"] == {"nested": {"key": REDACTED, "list": [REDACTED]}}
    assert data["image/png"] == png  # base64 is never rewritten
    assert data["text/html"] == "<b>[redacted]</b>"


# -- every channel of a real build ------------------------------------------------------

_TAG = uuid.uuid4().hex[:10]


def _secret(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


#: env var -> value. Names the default fragments catch, and SERVICE_* ones only the
#: project's `docs.redact_env` catches.
SECRETS = {
    "QA_COLOUR_PASSWORD": f"QApass-Zebra-{_TAG}",
    "QA_WRAP_TOKEN": "wrap" + uuid.uuid4().hex * 4,
    "QA_FRAGMENT_TOKEN": "Bearer " + _secret("frag"),
    "QA_DOTTED_SECRET": f"{_secret('part1')}.{_secret('part2')}:{_secret('part3')}",
    "SERVICE_AUTH": _secret("svcauth-"),
    "UPSTREAM_HEADER": "Bearer " + _secret("hdr-"),
    "QA_ERROR_PASSWORD": _secret("errpw-"),
    "QA_SVG_KEY": _secret("svgkey-"),
    "QA_RUN_SECRET": _secret("runsecret-"),
    **{
        f"QA_NB_{kind.upper()}_SECRET": _secret(f"nb{kind}-")
        for kind in ("stream", "json", "svg", "html", "markdown", "latex", "js")
    },
}
#: Written literally in a script (never in the environment): caught by their shape.
LITERALS = {
    "openai": "sk-proj-" + uuid.uuid4().hex,
    "github": "ghp_" + uuid.uuid4().hex[:36],
    "custom": "internal-" + str(uuid.uuid4().int)[:6],
}
#: What the page shows in place of each literal.
LITERAL_LINES = {
    "openai": "openai key [redacted]",
    "github": "github token [redacted]",
    "custom": "custom id [redacted]",
}

COLOUR_PY = """\
import os
from rich.console import Console

secret = os.environ["QA_COLOUR_PASSWORD"]
console = Console(force_terminal=True)
console.print(f"password={secret} [green]after[/green]")
"""

WRAP_PY = """\
import os
from rich.console import Console
from rich.padding import Padding

token = os.environ["QA_WRAP_TOKEN"]
Console().print("token for the wrap test: " + token)
Console().print(Padding("token=" + token, (0, 0, 0, 4)))
"""

FRAGMENT_PY = """\
import os

print("token part:", os.environ["QA_FRAGMENT_TOKEN"].split()[1])
for part in os.environ["QA_DOTTED_SECRET"].replace(":", ".").split("."):
    print("part:", part)
"""

SHAPES_PY = """\
import os

print("auth:", os.environ["SERVICE_AUTH"])
print("header:", os.environ["UPSTREAM_HEADER"])
print("openai key {openai}")
print("github token {github}")
print("custom id {custom}")
"""

ERROR_PY = """\
import os

raise RuntimeError("cannot log in with " + os.environ["QA_ERROR_PASSWORD"])
"""

SVG_PY = """\
import os
from pathlib import Path

Path("chart.svg").write_text(
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="20">'
    f'<text y="15">{os.environ["QA_SVG_KEY"]}</text></svg>'
)
print("chart written")
"""

RUNS_PY = """\
import os

import mlflow

secret = os.environ["QA_RUN_SECRET"]
with mlflow.start_run(run_name="run-" + secret):
    mlflow.log_param("password", secret)
    mlflow.log_metric("score", 0.5)
print("run logged")
"""

NOTEBOOK_CELL = """\
import os
from IPython.display import HTML, SVG, Javascript, Latex, Markdown, display

env = os.environ
print("stream", env["QA_NB_STREAM_SECRET"])
display({"application/json": {"nested": {"key": env["QA_NB_JSON_SECRET"]}}}, raw=True)
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><text>' + env["QA_NB_SVG_SECRET"] + "</text></svg>"))
display(HTML("<b>" + env["QA_NB_HTML_SECRET"] + "</b>"))
display(Markdown("**" + env["QA_NB_MARKDOWN_SECRET"] + "**"))
display(Latex("$\\\\text{" + env["QA_NB_LATEX_SECRET"] + "}$"))
display(Javascript("console.log('" + env["QA_NB_JS_SECRET"] + "')"))
"""

MKDOCS_YML = """\
site_name: redaction test
plugins:
  - search
  - livedocs:
      reference: false
  - mkdocs-jupyter:
      include: ["*.ipynb"]
      execute: false
      include_source: true
markdown_extensions:
  - admonition
  - pymdownx.superfences
  - pymdownx.tabbed:
      alternate_style: true
"""

MLTRACK_YML = """\
docs:
  redact_env: [SERVICE_*]
  redact_patterns: ['internal-\\d{6}']
"""

EXAMPLES = {
    "colour.py": COLOUR_PY,
    "wrap.py": WRAP_PY,
    "fragment.py": FRAGMENT_PY,
    "shapes.py": SHAPES_PY.format(**LITERALS),
    "failing.py": ERROR_PY,
    "svg.py": SVG_PY,
    "runs.py": RUNS_PY,
}


_ESC = re.compile(r"\x1b\[[0-9;?]*[@-~]|\\u001b\[[0-9;?]*[@-~]")
_TAGS = re.compile(r"<[^<>]{0,400}>")
_WRAP = re.compile(r"[ \t]*(?:\r?\n|\\n)[ \t]*")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)")


def _readable_forms(data: bytes) -> list[str]:
    """What a reader could recover from a file: as is, without colours, tags, wraps,
    escapes, and the text inside base64 data URIs."""
    text = data.decode("utf-8", errors="replace")
    decoded = [
        base64.b64decode(m.group(1) + "==").decode("utf-8", errors="replace")
        for m in _DATA_URI.finditer(text)
    ]
    forms = []
    for form in [text, *decoded]:
        plain = _ESC.sub("", form)
        untagged = html.unescape(_TAGS.sub("", plain))
        forms += [form, plain, untagged, _WRAP.sub("", untagged), _WRAP.sub("", plain)]
        forms.append(form.replace('\\"', '"').replace("\\\\", "\\"))
    return forms


def _fragments(secret: str) -> list[str]:
    return list(
        dict.fromkeys([secret] + [p for p in re.split(r"[\s.:/=]+", secret) if len(p) >= 8])
    )


def _leaks(dirs: list[Path], secret: str) -> list[str]:
    needles = _fragments(secret)
    found = []
    for folder in dirs:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            forms = _readable_forms(path.read_bytes())
            found += [f"{path}: {n!r}" for n in needles if any(n in form for form in forms)]
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One site with every channel, built once; its snapshots written too."""
    tmp = tmp_path_factory.mktemp("redaction")
    page = "# Secrets\n\n" + "".join(
        f"```livedocs\nfile: examples/{name}\nshow: output\n```\n\n" for name in EXAMPLES
    )
    root = make_project(tmp / "proj", EXAMPLES, page)
    (root / "mkdocs.yml").write_text(MKDOCS_YML)
    (root / ".mltrack.yml").write_text(MLTRACK_YML)
    (root / "notebooks").mkdir()
    (root / "notebooks" / "leaky.ipynb").write_text(notebook_json(NOTEBOOK_CELL))
    env = {**build_env(tmp / "tmp", uuid.uuid4().hex), **SECRETS}
    done = mkdocs(root, env)
    assert done.returncode == 0, done.stderr
    snap = subprocess.run(
        [sys.executable, "-m", "mltrack", "docs", "snapshot", "--update", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert snap.returncode in (0, 1), snap.stderr  # 1: the failing example has no snapshot
    return root


def _published(root: Path) -> list[Path]:
    return [root / "site", root / ".cache", root / "docs" / "_snapshots"]


def _page(root: Path) -> str:
    return (root / "site" / "index.html").read_text()


@pytest.mark.slow
def test_build_published_every_channel(built: Path) -> None:
    """The channels really carried output (so that the leak checks below mean something)."""
    page = _page(built)
    assert "password=" in page and '<span class="ansi-fg-green">after</span>' in page
    assert "token for the wrap test:" in page and "token part:" in page
    assert "cannot log in with" in page and "RuntimeError" in page
    assert "data:image/svg+xml;base64," in page and "chart written" in page
    assert "MLflow runs created" in page and "password=[redacted]" in page
    assert "auth: [redacted]" in page and "header: Bearer [redacted]" in page
    assert (built / "site/search/search_index.json").is_file()
    download = built / "site/notebooks/leaky/leaky.ipynb"  # offered for download
    outputs = json.loads(download.read_text())["cells"][0]["outputs"]
    mimes = {mime for output in outputs for mime in output.get("data", {})}
    assert mimes >= {
        "application/json",
        "image/svg+xml",
        "text/html",
        "text/markdown",
        "text/latex",
        "application/javascript",
    }
    svg = base64.b64decode(page.split("data:image/svg+xml;base64,")[1].split('"')[0])
    assert b'<text y="15">[redacted]</text>' in svg
    notebook_page = (built / "site/notebooks/leaky/index.html").read_text()
    assert "stream [redacted]" in notebook_page
    assert list((built / ".cache/livedocs/items").glob("*.json"))
    assert list((built / "docs/_snapshots").glob("*.txt"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "variable",
    [
        pytest.param("QA_COLOUR_PASSWORD", id="split-by-colour-codes"),
        pytest.param("QA_WRAP_TOKEN", id="split-by-terminal-wrap"),
        pytest.param("QA_FRAGMENT_TOKEN", id="part-after-bearer"),
        pytest.param("QA_DOTTED_SECRET", id="fragments"),
        pytest.param("SERVICE_AUTH", id="redact-env-name"),
        pytest.param("UPSTREAM_HEADER", id="bearer-in-other-variable"),
        pytest.param("QA_ERROR_PASSWORD", id="error-message-and-traceback"),
        pytest.param("QA_SVG_KEY", id="svg-figure"),
        pytest.param("QA_RUN_SECRET", id="run-name-and-params"),
        pytest.param("QA_NB_STREAM_SECRET", id="notebook-stream"),
        pytest.param("QA_NB_JSON_SECRET", id="notebook-application-json"),
        pytest.param("QA_NB_SVG_SECRET", id="notebook-image-svg"),
        pytest.param("QA_NB_HTML_SECRET", id="notebook-text-html"),
        pytest.param("QA_NB_MARKDOWN_SECRET", id="notebook-text-markdown"),
        pytest.param("QA_NB_LATEX_SECRET", id="notebook-text-latex"),
        pytest.param("QA_NB_JS_SECRET", id="notebook-application-javascript"),
    ],
)
def test_secret_from_the_environment_is_nowhere_in_site_cache_or_snapshots(
    built: Path, variable: str
) -> None:
    assert _leaks(_published(built), SECRETS[variable]) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(LITERALS))
def test_token_written_in_a_script_is_nowhere_in_site_cache_or_snapshots(
    built: Path, kind: str
) -> None:
    assert _leaks(_published(built), LITERALS[kind]) == []
    assert LITERAL_LINES[kind] in _page(built)
