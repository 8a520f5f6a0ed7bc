"""The demo report's HTML page (sections, tables, embedded images) and its JSON summary.

Scoring against ground truth is in :mod:`local_cloud.report_scoring`, the plots in
:mod:`local_cloud.report_plots`, the lake read-back in :mod:`local_cloud.report_lake`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


def shown_columns(columns: Sequence[str]) -> list[int]:
    """Indexes of the columns a report table shows: an epoch-ms column beside its own UTC
    rendering (``changed_at_ms`` and ``changed_at_utc``) is left out; shown, it read as a date
    under a name that says milliseconds."""
    names = [str(c) for c in columns]
    return [
        i
        for i, c in enumerate(names)
        if not (c.endswith("_ms") and f"{c.removesuffix('_ms')}_utc" in names)
    ]


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    from rotorwatch.lake.display import cell

    keep = shown_columns(columns)
    head = "".join(f"<th>{html.escape(str(columns[i]))}</th>" for i in keep)
    body = "".join(
        "<tr>" + "".join(_td(cell(str(columns[i]), r[i])) for i in keep) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Cells up to this many characters never wrap (numbers, zones, times); longer text (machine
#: lists, alert subjects) wraps anywhere, so wide tables fit a narrow window.
_NOWRAP_CHARS = 16


def _td(text: str) -> str:
    cls = " class='w'" if len(text) > _NOWRAP_CHARS else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def image_html(path: Path, alt: str) -> str:
    """A PNG embedded as a data URI, so report.html is one file that can be mailed around."""
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<p><img src='data:image/png;base64,{data}' alt='{html.escape(alt)}'></p>"


@dataclass
class Section:
    title: str
    html: str


def write_html(path: Path, title: str, sections: Sequence[Section]) -> Path:
    # Readable from 800 px up without sideways scrolling: tables shrink their font and wrap
    # long cells (machine lists, alert subjects) instead of widening the page.
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;"
        "color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:12px;max-width:100%}"
        "td,th{border:1px solid #ccc;padding:2px 4px;text-align:left;white-space:nowrap}"
        "td.w{white-space:normal;overflow-wrap:anywhere}"
        "th{background:#eee;white-space:normal;overflow-wrap:anywhere}.summary td{font-size:14px;white-space:normal}"
        "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}"
        "img{max-width:100%;height:auto}"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>{s.html}")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def escape(text: str) -> str:
    return html.escape(text)


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return _table(columns, rows)


def dump_json(path: Path, data: Mapping[str, Any]) -> Path:
    def default(o: Any) -> Any:
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        if isinstance(o, float | np.floating) and not np.isfinite(o):
            return None
        return str(o)

    path.write_text(json.dumps(data, indent=1, default=default), encoding="utf-8")
    return path
