"""Command-line interface: ``callquality <command>``.

Commands:
    features                 list the feature schema (name, group, unit)
    extract PATH... --out F  extract features from audio files or folders into Parquet/CSV
    run-period --store DIR --period P (--calls DIR | --features F)
                             one period of the monitoring and retraining loop (cron-friendly:
                             no prompts; exit 0 done, 1 a step failed (rerun resumes), 2 bad
                             arguments, 75 the period is being processed by another process)
    serve --model REF --store DIR
                             the HTTP prediction service (token from CALLQUALITY_API_TOKEN)
    dashboard --store DIR    the live Streamlit dashboard
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from .monitoring import AlertRule

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


EXIT_STEP_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75  # EX_TEMPFAIL: try again later


def _read_table(path: str) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    return pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p)


def _parse_rule(text: str) -> AlertRule:
    from .monitoring import AlertRule

    parts = text.split(":")
    if parts[1:2] == ["drift"] and len(parts) >= 5:  # name:drift:feature:cmp:thr[:min]
        parts = [parts[0], f"drift:{parts[2]}", *parts[3:]]
    if len(parts) not in (4, 5):
        raise ValueError(f"--alert {text!r}: expected NAME:METRIC:COMPARATOR:THRESHOLD"
                         "[:MIN_COUNT], e.g. f1_low:f1:<:0.6:20 or drift:drift:max:>:0.25")
    return AlertRule(parts[0], metric=parts[1], comparator=parts[2], threshold=float(parts[3]),
                     min_count=int(parts[4]) if len(parts) == 5 else 1)


def _cmd_run_period(args: argparse.Namespace) -> int:
    import json
    import logging

    from .backends import connect
    from .exceptions import ConfigurationError, ConflictError, MonitoringError
    from .monitoring import LogSink, WebhookSink
    from .monitoring.retraining import RetrainingPolicy, process_period

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        rules = [_parse_rule(r) for r in args.alert]
        policy = RetrainingPolicy(f1_threshold=args.f1_threshold,
                                  drift_threshold=args.drift_threshold,
                                  drift_method=args.drift_method, min_labeled=args.min_labeled,
                                  min_improvement=args.min_improvement,
                                  selection_metric=args.selection_metric,
                                  accumulate=args.accumulate, seed=args.seed)
        features = _read_table(args.features) if args.features else None
        outcomes = _read_table(args.outcomes) if args.outcomes else None
        if args.calls is None and (features is None or outcomes is None):
            raise ConfigurationError("give --calls, or both --features and --outcomes")
        sinks: list = [LogSink()]
        if args.webhook:
            sinks.append(WebhookSink(args.webhook))
    except (ValueError, OSError) as exc:  # ConfigurationError is a ValueError
        print(f"callquality run-period: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with connect("local", path=args.store) as backend:
            report = process_period(
                backend, args.period, args.calls, features=features, outcomes=outcomes,
                model_name=args.model_name, label=args.label, policy=policy,
                extract_options={"device": args.device, "progress": False},
                alert_rules=rules, sinks=sinks, as_of=args.as_of)
    except ConflictError as exc:
        print(f"callquality run-period: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except MonitoringError as exc:
        print(f"callquality run-period: {exc}", file=sys.stderr)
        return EXIT_STEP_FAILED
    except (ConfigurationError, OSError) as exc:
        print(f"callquality run-period: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"period": report.period, "steps": report.steps,
                          "champion_before": report.champion_before,
                          "champion_after": report.champion_after,
                          "retrained": report.retrained, "promoted": report.promoted,
                          "alerts": report.alerts, "results": report.results},
                         default=str))
    elif not args.quiet:
        print(report.summary())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .exceptions import CallQualityError
    from .serving import serve

    try:
        serve(args.model, store=args.store, host=args.host, port=args.port, token=args.token,
              allow_unauthenticated=args.no_auth, max_body_bytes=args.max_body_bytes,
              poll_interval_s=args.poll_interval, log_level=args.log_level)
    except CallQualityError as exc:
        print(f"callquality serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from .dashboard import run
    from .exceptions import CallQualityError

    try:
        return run(args.store, model=args.model, refresh_s=args.refresh, host=args.host,
                   port=args.port)
    except CallQualityError as exc:
        print(f"callquality dashboard: {exc}", file=sys.stderr)
        return 2


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
    p = sub.add_parser("run-period", help="one period of the monitoring and retraining loop")
    p.add_argument("--store", required=True, help="the local store's folder")
    p.add_argument("--period", required=True, help="period name, e.g. 2025-03 or 2025-03-02")
    p.add_argument("--calls", default=None, help="folder of the period's calls (audio + JSON)")
    p.add_argument("--features", default=None, help="features table (.parquet/.csv) instead "
                   "of extracting")
    p.add_argument("--outcomes", default=None, help="labels table (.parquet/.csv) instead of "
                   "the heuristic labeler")
    p.add_argument("--model-name", default="call_quality")
    p.add_argument("--label", default="high_quality_call")
    p.add_argument("--f1-threshold", type=float, default=0.6)
    p.add_argument("--drift-threshold", type=float, default=0.25)
    p.add_argument("--drift-method", default="psi")
    p.add_argument("--min-labeled", type=int, default=20)
    p.add_argument("--min-improvement", type=float, default=0.0)
    p.add_argument("--selection-metric", default="f1",
                   help="how champion, challenger and base are compared (f1, roc_auc, ...)")
    p.add_argument("--accumulate", action="store_true",
                   help="the challenger also learns from the calls of earlier periods")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--as-of", default=None, help="record predictions at this UTC time")
    p.add_argument("--alert", action="append", default=[],
                   help="NAME:METRIC:COMPARATOR:THRESHOLD[:MIN_COUNT], repeatable")
    p.add_argument("--webhook", default=None, help="POST alert events here (JSON)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=_cmd_run_period)
    p = sub.add_parser("serve", help="serve a registered model over HTTP")
    p.add_argument("--model", default="call_quality@PRODUCTION",
                   help="name@ALIAS (followed as it moves), name/VERSION or name")
    p.add_argument("--store", required=True, help="the local store's folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=None, help="bearer token (default: the "
                   "CALLQUALITY_API_TOKEN environment variable; prefer it)")
    p.add_argument("--no-auth", action="store_true", help="serve without a token")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20)
    p.add_argument("--poll-interval", type=float, default=5.0,
                   help="seconds between checks of the alias")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("dashboard", help="the live Streamlit dashboard")
    p.add_argument("--store", required=True, help="the local store's folder")
    p.add_argument("--model", default="call_quality@PRODUCTION")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--refresh", type=float, default=30.0, help="auto-refresh seconds (0: off)")
    p.set_defaults(func=_cmd_dashboard)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
