"""MkDocs hook: the reference pages are generated from the code, never copied by hand.

* ``<!-- generated: config-reference -->`` — every config key, from ``ddsolver.config.SCHEMA``;
* ``<!-- generated: cli-reference -->`` — ``ddsolver VERB --help`` of every verb;
* ``<!-- generated: problem-kinds -->`` — the registered problem kinds;
* ``<!-- generated: benchmarks -->`` — the table of ``benchmarks/results.json``;
* ``<!-- generated: ready-configs -->`` — every file of ``grids/`` with its opening comment.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def config_reference() -> str:
    from ddsolver.config import schema_markdown

    return schema_markdown()


def cli_reference() -> str:
    from ddsolver.cli import verb_help

    parts = []
    for verb, text in verb_help().items():
        title = f"ddsolver {verb}".strip()
        parts.append(f"### `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def problem_kinds() -> str:
    from ddsolver.kinds import SPECS as KINDS

    rows = ["| `problem.kind` | what | solved by | package |", "|---|---|---|---|"]
    for name, kind in KINDS.items():
        module = f"ddsolver.kinds.{name}"  # the kind's package: config.py and kind.py
        methods = ", ".join(f"`{m}`" for m in kind.methods)
        summary = kind.summary.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
        rows.append(f"| [`{name}`]({name}.md) | {summary} | {methods} | `{module}` |")
    return "\n".join(rows)


def _seconds(value) -> str:
    if value is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} s"


def _detail(value) -> str:
    if isinstance(value, float):
        return _seconds(value) if value > 0 else f"{value:.3g}"
    return str(value)


def benchmarks() -> str:
    path = ROOT / "benchmarks" / "results.json"
    results = json.loads(path.read_text())
    rows = [
        "| benchmark | ours | peer | peer time | ratio (peer / ours) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if "ratio" in r:
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
            fitted = ""
            if r.get("exponent") is not None:
                fitted = f"fitted exponent {r['exponent']:.2f} (expected {r.get('expected')})"
            said = (r.get("peer"), r.get("method"), r.get("mode"), r.get("failed"), fitted)
            peer = " ".join(str(x) for x in said if x)
            rows.append(
                f"| {r['name']} | {_seconds(r.get('ours_s'))} | {peer} | "
                f"{_seconds(r.get('peer_s'))} | {ratio} |"
            )
        else:
            details = ", ".join(f"{k} = {_detail(v)}" for k, v in r.items() if k != "name")
            rows.append(f"| {r['name']} | | {details} | | |")
    return "\n".join(rows)


def _opening_comment(path: Path) -> str:
    """The comment a config file opens with, up to its first command line or blank line."""
    words = []
    for line in path.read_text().splitlines():
        text = line[1:].strip() if line.startswith("#") else None
        if not text or text.startswith("ddsolver ") or text.startswith("pytest "):
            break
        words.append(text)
    return " ".join(words).replace("|", "\\|")


def ready_configs() -> str:
    grids = ROOT / "grids"
    rows = ["| file | what |", "|---|---|"]
    for path in sorted(grids.glob("*.toml")) + sorted((grids / "sweeps").glob("*.toml")):
        rows.append(f"| `{path.relative_to(ROOT)}` | {_opening_comment(path)} |")
    return "\n".join(rows)


GENERATORS = {
    "<!-- generated: config-reference -->": config_reference,
    "<!-- generated: cli-reference -->": cli_reference,
    "<!-- generated: problem-kinds -->": problem_kinds,
    "<!-- generated: benchmarks -->": benchmarks,
    "<!-- generated: ready-configs -->": ready_configs,
}


def on_page_markdown(markdown: str, **kwargs) -> str:
    """Replace each marker by the text its generator makes."""
    for marker, make in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
