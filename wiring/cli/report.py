"""``wiring report``: one HTML page of a search storage, a one-shot checkpoint or a ``wiring compare`` folder
(:mod:`wiring.search.report`), written to a file or served live on 127.0.0.1.

The space a report draws architectures with is rebuilt here, the one layer that names concrete spaces: from
the space's name and settings that the storage's ``meta`` table (or the checkpoint's setup) records, through
``spaces.<name>.space(**options)``, and used only if the rebuilt space has exactly the recorded settings.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import spaces

from ..search import SearchError
from ..search.report import ReportServer, kind_of, write_report
from ..search.report.sources import COMPARE, SEARCH, search_setup
from ..search.runner import settings_of

UNSET = object()


def run(args: argparse.Namespace) -> int:
    if not args.serve and args.port is not None:
        raise SearchError("--port applies to --serve only")
    if args.serve and args.output is not None:
        raise SearchError("--output does not apply to --serve (the page is served, not written)")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise SearchError(f"--port must be in 0..65535 (0: a free port), got {args.port}")
    kind = kind_of(args.source)
    space, why = recorded_space(args.source, kind)
    if why:
        print(f"wiring report: note: {why}", file=sys.stderr, flush=True)
    if args.serve:
        server = ReportServer(args.source, port=args.port or 0, space=space, top=args.top)
        print(f"serving the report of {args.source} at {server.url} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print(f"wiring report: stopped serving {server.url}", file=sys.stderr)
        return 0
    output = args.output if args.output is not None else default_output(args.source, kind)
    write_report(args.source, output, space=space, top=args.top)
    print(f"wrote {output}")
    return 0


def announce(source: Path, space: Any = None) -> None:
    """Write the report of a job that just ended beside its output (:func:`default_output`) and print its path; a
    report that cannot be made is one warning line, never the job's failure."""
    try:
        kind = kind_of(source)
        output = write_report(source, default_output(source, kind), space=space)
    except (SearchError, OSError, ValueError) as error:
        print(f"wiring: warning: no report: {error}", file=sys.stderr, flush=True)
        return
    print(f"report: {output} (open it in a browser; wiring report --serve {source} shows a running job live)",
          flush=True)


def default_output(source: Path, kind: str) -> Path:
    """``report.html`` inside a compare folder (beside its ``results.json``), else the source's name with
    ``.html`` (``search.db`` -> ``search.html``)."""
    if kind == COMPARE:
        return (source if source.is_dir() else source.parent) / "report.html"
    return source.with_suffix(".html") if source.suffix != ".html" else source.with_name(source.name + ".html")


# -- the recorded space ---------------------------------------------------------------------------


def recorded_space(source: Path, kind: str) -> tuple[Any, str]:
    """The space ``source`` was searched in, rebuilt from its record, or ``(None, why not)``; a compare folder
    needs none."""
    if kind == COMPARE:
        return None, ""
    if kind == SEARCH:
        setup = search_setup(source)
        label = setup.get("space", "")
        try:
            settings = json.loads(setup.get("space_settings") or "{}")
        except ValueError:
            settings = None
    else:
        from ..search.oneshot.checkpoint import decoded_setup, read, unflatten

        recorded = decoded_setup(read(source)["setup"])
        label = recorded.get("space", "")
        settings = unflatten({key[len("space."):]: value for key, value in recorded.items()
                              if key.startswith("space.")})
    if not isinstance(settings, dict) or not isinstance(label, str):
        return None, f"{str(source)!r} records no space settings: no architecture drawings"
    return rebuild(label, settings)


def rebuild(label: str, settings: dict[str, Any]) -> tuple[Any, str]:
    """The space ``label`` names (``"spaces.darts.DartsSpace (darts)"``, ``"DartsSpace (darts)"``) built by its
    ``spaces.<name>.space`` with ``settings``, or ``(None, why not)``."""
    name = _space_name(label)
    if name is None:
        return None, (f"the space {label!r} is not one of wiring's spaces ({', '.join(spaces.SPACES)}), so the "
                      f"report has no architecture drawings; give the space in Python: "
                      f"wiring.report(source, path, space=...)")
    factory = importlib.import_module(f"spaces.{name}").space
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    options: dict[str, Any] = {}
    for found in (settings.get("options"), settings):  # spaces that keep their factory's options under "options"
        if isinstance(found, dict):
            options.update({k: _tuples(v) for k, v in found.items()
                            if k not in options and k not in ("constraint", "name") and (k in parameters or takes_any)})
    variant = _variant(label)
    if "kind" in parameters and variant is not None:
        options.setdefault("kind", variant)  # e.g. enas.micro: spaces.enas.space(kind="micro")
    built = _build(factory, options, takes_any)
    if built is None:
        return None, f"the space {label!r} could not be rebuilt from its recorded settings: no architecture drawings"
    wanted, got = _normal(settings), _normal(settings_of(built, {"constraint", "name"}))
    differ = sorted(k for k in set(wanted) | set(got) if wanted.get(k, UNSET) != got.get(k, UNSET))
    if differ:
        return None, (f"the space {label!r} rebuilt from its record differs in {', '.join(differ[:5])}: no "
                      f"architecture drawings")
    return built, ""


def _space_name(label: str) -> str | None:
    path, _, rest = label.partition(" (")
    candidates = []
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] == "spaces":
        candidates.append(parts[1])
    if rest.endswith(")"):
        candidates.append(rest[:-1].split(".")[0])
    return next((c for c in candidates if c in spaces.SPACES), None)


def _variant(label: str) -> str | None:
    _, _, rest = label.partition(" (")
    name = rest[:-1] if rest.endswith(")") else ""
    return name.split(".", 1)[1] if "." in name else None


def _build(factory: Any, options: dict[str, Any], takes_any: bool) -> Any:
    """``factory(**options)``; for a factory taking ``**options``, the options it refuses left out one by one."""
    try:
        return factory(**options)
    except (ValueError, TypeError):
        if not takes_any:
            return None
    kept: dict[str, Any] = {k: options[k] for k in ("kind",) if k in options}
    for key, value in options.items():
        if key in kept:
            continue
        try:
            factory(**kept, **{key: value})
        except (ValueError, TypeError):
            continue
        kept[key] = value
    try:
        return factory(**kept)
    except (ValueError, TypeError):
        return None


def _normal(settings: dict[str, Any]) -> dict[str, Any]:
    values = json.loads(json.dumps(settings, sort_keys=True, default=repr))
    return {k: v for k, v in values.items() if k not in ("constraint", "name")}


def _tuples(value: Any) -> Any:
    """JSON lists as tuples (a space's sequence options, e.g. ``layers``, are tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


__all__ = ["default_output", "rebuild", "recorded_space", "run"]
