"""Command-line interface: ``callquality <command>``.

Commands:
    features                 list the feature schema (name, group, unit)
    extract PATH... --out F  extract features from audio files or folders into Parquet/CSV
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_features(args: argparse.Namespace) -> int:
    from .schema import FEATURES

    for s in FEATURES:
        if args.group in (None, s.group):
            print(f"{s.name:32s} {s.group:12s} {s.unit}")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from .calls import load_calls
    from .features.extractor import extract

    items: list = []
    for p in args.paths:
        path = Path(p)
        if path.is_dir():
            calls = load_calls(path)
            for _, err in calls.report.failures:
                print(f"skipped: {err}", file=sys.stderr)
            items.extend(calls)
        else:
            items.append(path)
    groups = tuple(args.groups.split(",")) if args.groups else None
    df = extract(items, groups=groups, device=args.device, progress=True)
    out = Path(args.out)
    if out.suffix == ".csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    n_err = int(df["error"].notna().sum())
    print(f"wrote {len(df)} rows to {out} ({n_err} with errors)")
    return 1 if n_err == len(df) and len(df) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callquality", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="list the feature schema")
    p.add_argument("--group", default=None)
    p.set_defaults(func=_cmd_features)
    p = sub.add_parser("extract", help="extract features from audio files or folders")
    p.add_argument("paths", nargs="+")
    p.add_argument("--out", required=True, help="output .parquet or .csv")
    p.add_argument("--groups", default=None, help="comma-separated groups")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_extract)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
