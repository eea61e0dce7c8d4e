"""The HTML of a report: one self-contained page (styles, script and images inline, nothing fetched).

A report is a title, a few summary lines and a list of :class:`Section` objects, each a heading and
HTML made with the helpers here: :func:`table` (sortable by clicking a header, or by the page's
``#sort=`` hash), :func:`image` (a PNG as a ``data:`` URI), :func:`figure_png` (a matplotlib figure,
drawn through the Agg canvas), :func:`facts` (a definition list). :func:`page` joins them.

The page's Content-Security-Policy allows no resource but inline styles and scripts and ``data:``
images, so viewing it needs no network (and a stray reference would show as a console error).

The script sorts tables (numbers by value, empty cells last in either direction), reads
``#sort=KEY`` (``-KEY``: descending; ``TABLE:KEY`` for a table other than the page's main one) on
load and whenever the hash changes, keeps the last click in the hash (so a live page keeps its order
across reloads), and sets ``data-images`` on ``<body>`` once every image has loaded
(``"loaded N"``, or ``"broken K of N"``). A live page (:func:`page` with ``live=``) polls ``stamp``
beside it every two seconds and reloads when it changes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "connect-src 'self'")
"""The page's Content-Security-Policy: inline styles and scripts, ``data:`` images, and (for a live page) requests
to the page's own server; nothing else loads."""

POLL_MS = 2000
"""How often a live page asks its server whether the source changed."""


@dataclass(frozen=True)
class Section:
    """One part of a report: ``id`` (its anchor), a heading, and its HTML."""

    id: str
    title: str
    body: str


@dataclass(frozen=True)
class Column:
    """A table column: its ``key`` (what ``#sort=`` names), header text, and whether a first click sorts it
    descending (scores, accuracies)."""

    key: str
    title: str
    descending: bool = False
    numeric: bool = False


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, spec: str = ".6g") -> str:
    """``value`` formatted, or ``""`` for None; NaN and infinities as written by Python."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, spec)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def cell(value: Any, *, text: str | None = None) -> str:
    """A ``<td>``: numbers carry their value in ``data-v`` (what the sort compares); ``text`` replaces the shown
    text."""
    attrs = ""
    if is_number(value) and math.isfinite(value):
        attrs = f' data-v="{float(value)!r}"'
    elif value is None or value == "":
        attrs = ' data-v=""'
    shown = escape(text if text is not None else number(value))
    return f"<td{attrs}>{shown}</td>"


def table(table_id: str, columns: Sequence[Column], rows: Iterable[Sequence[str]], *, main: bool = False,
          row_attrs: Sequence[str] | None = None) -> str:
    """A sortable table; each row a sequence of ``<td>`` strings (:func:`cell`) in ``columns`` order;
    ``row_attrs``, one per row, the attributes of its ``<tr>`` (trusted HTML)."""
    head = "".join(f'<th data-key="{escape(c.key)}"{" data-first=desc" if c.descending else ""}'
                   f'{" class=num" if c.numeric else ""} title="sort by {escape(c.title)}">{escape(c.title)}</th>'
                   for c in columns)
    rows = list(rows)
    attrs = [f" {a}" if a else "" for a in (row_attrs or [""] * len(rows))]
    body = "\n".join(f"<tr{a}>{''.join(r)}</tr>" for a, r in zip(attrs, rows))
    main_attr = " data-main" if main else ""
    return (f'<div class="scroll"><table class="sortable" id="{escape(table_id)}"{main_attr}>'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>")


def facts(items: Iterable[tuple[str, Any]]) -> str:
    """A definition list of ``(name, value)`` pairs (values escaped)."""
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items) + "</dl>"


def image(png: bytes, alt: str, *, caption: str = "") -> str:
    """``png`` inline as a ``data:`` URI in a figure."""
    data = base64.b64encode(png).decode("ascii")
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}">{text}</figure>'


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib :class:`~matplotlib.figure.Figure` as PNG bytes (Agg canvas; no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def page(title: str, summary: Sequence[tuple[str, Any]], sections: Sequence[Section], *, kind: str,
         live: str | None = None) -> str:
    """The whole report. ``kind`` (``search``, ``oneshot``, ``compare``) goes on ``<body data-kind>``; ``live``, the
    source's stamp, makes the page poll ``stamp`` and reload when it changes."""
    nav = " · ".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in sections)
    parts = [f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>\n{s.body}\n</section>' for s in sections]
    live_script = ""
    if live is not None:
        live_script = (f"<script>(function(){{var stamp={json.dumps(live)};setInterval(function(){{"
                       f"fetch('stamp',{{cache:'no-store'}}).then(function(r){{return r.ok?r.text():stamp;}})"
                       f".then(function(t){{if(t!==stamp)location.reload();}}).catch(function(){{}});}},"
                       f"{POLL_MS});}})();</script>")
    noscript = '<noscript><meta http-equiv="refresh" content="5"></noscript>' if live is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="wiring report">{noscript}
<title>{escape(title)}</title>
<style>{STYLE}</style></head>
<body data-kind="{escape(kind)}"{' data-live' if live is not None else ''}>
<header><h1>{escape(title)}</h1>{facts(summary)}<nav>{nav}</nav></header>
<main>
{chr(10).join(parts)}
</main>
<script>{SCRIPT}</script>{live_script}
</body></html>
"""


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#eef1f6;padding:14px 24px 10px}
header h1{font-size:20px;margin:0 0 6px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;margin:0 0 8px;font-size:13px}
header dt{color:#9aa6b8}header dd{margin:0;word-break:break-all}
header nav a{color:#8cc4ff;margin-right:2px}
main{padding:8px 24px 40px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:6px 18px 14px;margin:14px 0}
h2{font-size:17px;margin:8px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px}dd{margin:0}dt{color:#5b6577}
figure{margin:8px 0;display:inline-block;vertical-align:top}figure img{max-width:100%;height:auto}
figcaption{font-size:12px;color:#5b6577}
.scroll{max-height:560px;overflow:auto;border:1px solid #e4e7ec}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
th{position:sticky;top:0;background:#eef1f6;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
caption{caption-side:top;text-align:left;color:#5b6577;padding:2px 0}
tr.failed td{color:#a31515}tr.best td{background:#eefbe7}tr.running td{color:#5b6577;font-style:italic}
td.enc{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px;max-width:520px;word-break:break-all}
details pre{white-space:pre-wrap;font-size:11px;max-width:640px}
.note{color:#5b6577;font-size:13px}
"""

SCRIPT = r"""
(function(){
  "use strict";
  function value(row, index){
    var c = row.cells[index];
    if (!c) return {empty:true};
    var v = c.getAttribute("data-v");
    if (v !== null) return v === "" ? {empty:true} : {num:parseFloat(v)};
    var t = c.textContent.trim();
    return t === "" ? {empty:true} : {text:t.toLowerCase()};
  }
  function compare(a, b){
    if (a.empty || b.empty) return 0;
    if (a.num !== undefined && b.num !== undefined) return a.num - b.num;
    var x = a.num !== undefined ? String(a.num) : a.text, y = b.num !== undefined ? String(b.num) : b.text;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  function sortTable(table, key, descending){
    var heads = table.tHead.rows[0].cells, index = -1;
    for (var i = 0; i < heads.length; i++){
      heads[i].removeAttribute("aria-sort");
      if (heads[i].getAttribute("data-key") === key) index = i;
    }
    if (index < 0) return false;
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function(r, i){ return {row:r, v:value(r, index), i:i}; });
    keyed.sort(function(a, b){
      if (a.v.empty !== b.v.empty) return a.v.empty ? 1 : -1;
      var d = compare(a.v, b.v);
      if (descending) d = -d;
      return d !== 0 ? d : a.i - b.i;
    });
    keyed.forEach(function(k){ body.appendChild(k.row); });
    heads[index].setAttribute("aria-sort", descending ? "descending" : "ascending");
    table.setAttribute("data-sorted", (descending ? "-" : "") + key);
    return true;
  }
  window.wiringSort = sortTable;
  function mainTable(){
    return document.querySelector("table[data-main]") || document.querySelector("table.sortable");
  }
  function applyHash(){
    var m = /(?:^#|&)sort=([^&]*)/.exec(location.hash);
    if (!m) return;
    var spec = decodeURIComponent(m[1]), table = mainTable(), colon = spec.indexOf(":");
    if (colon >= 0){ table = document.getElementById(spec.slice(0, colon)); spec = spec.slice(colon + 1); }
    if (!table) return;
    var descending = spec.charAt(0) === "-";
    sortTable(table, descending ? spec.slice(1) : spec, descending);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th){
      th.addEventListener("click", function(){
        var key = th.getAttribute("data-key"), state = th.getAttribute("aria-sort");
        var descending = state ? state === "ascending" : th.getAttribute("data-first") === "desc";
        sortTable(table, key, descending);
        var spec = (table === mainTable() ? "" : table.id + ":") + (descending ? "-" : "") + key;
        history.replaceState(null, "", "#sort=" + encodeURIComponent(spec));
      });
    });
  });
  applyHash();
  window.addEventListener("hashchange", applyHash);
  function imagesLoaded(){
    var images = document.images, broken = 0;
    for (var i = 0; i < images.length; i++) if (!(images[i].complete && images[i].naturalWidth > 0)) broken++;
    document.body.setAttribute("data-images", broken ? "broken " + broken + " of " + images.length
                                                     : "loaded " + images.length);
  }
  if (document.readyState === "complete") imagesLoaded(); else window.addEventListener("load", imagesLoaded);
})();
"""
