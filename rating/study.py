"""Command line for setting up rating studies (whoever can write the database file is admin).

  python -m rating.study create --db radllama.db --name pilot --n 20 --seed 0 --stratify \
      --systems constant,retrieval --import outside.jsonl --include-reference \
      --raters "Dr A,Dr B" --k 2 --calibration 2 --repeats 2
  python -m rating.study add-rater --db radllama.db --study 1 --name "Dr C"
  python -m rating.study revoke --db radllama.db --study 1 --name "Dr B"
  python -m rating.study reissue --db radllama.db --study 1 --name "Dr B"
  python -m rating.study list --db radllama.db
  python -m rating.study backup --db radllama.db --out backups/radllama-2026-11-30.db

Invitation links and tokens are printed once; only their hashes are stored.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rating.study", description="Set up blinded rating studies")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--db", default=os.environ.get("RADLLAMA_DB"), help="SQLite file or SQLAlchemy URL")
        sp.add_argument("--base-url", default="http://127.0.0.1:7860", help="server address used in links")

    c = sub.add_parser("create", help="sample cases, generate/import outputs, invite raters")
    common(c)
    c.add_argument("--name", help="study name (default: study-<seed>-<n>)")
    c.add_argument("--data", default=os.environ.get("RADLLAMA_DATA"), help="report file (default: shared OpenI)")
    c.add_argument("--n", type=int, default=20)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--stratify", action="store_true", help="half normal, half abnormal cases")
    c.add_argument("--systems", default="", help="comma-separated generator names")
    c.add_argument("--import", dest="import_path", help="CSV/JSONL of outside outputs (case_id, system, text)")
    c.add_argument("--include-reference", action="store_true", help="rate the original impression too")
    c.add_argument("--raters", required=True, help='comma-separated names, e.g. "Dr A,Dr B"')
    c.add_argument("--k", type=int, default=None, help="raters per case (default: all)")
    c.add_argument("--calibration", type=int, default=0)
    c.add_argument("--repeats", type=int, default=0)
    c.add_argument("--split", default="test", choices=("train", "validate", "test"))

    for cmd, what in (("add-rater", "invite one more rater"), ("revoke", "withdraw a rater's access"),
                      ("reissue", "new token for a rater (old link stops working)")):
        s = sub.add_parser(cmd, help=what)
        common(s)
        s.add_argument("--study", type=int, required=True)
        s.add_argument("--name", required=True)
    lst = sub.add_parser("list", help="studies and raters")
    common(lst)
    b = sub.add_parser("backup", help="consistent copy of the live SQLite database (safe while raters submit)")
    b.add_argument("--db", default=os.environ.get("RADLLAMA_DB"), help="SQLite file or sqlite:/// URL")
    b.add_argument("--out", required=True, help="backup file to create (must not exist)")
    return p


def main(argv: list[str] | None = None) -> int:
    from db.engine import (DatabaseRefused, DatabaseUnavailable, backup_sqlite, database_url, make_session_factory,
                           prepare_database, unit_of_work)
    from rating.admin import invitation_link
    from rating.importer import ImportFormatError
    from rating.study_setup import RaterSpec, StudySetupError, add_rater, reissue_token, revoke_rater
    from reports.errors import MalformedFile

    args = _parser().parse_args(argv)
    try:
        if args.command == "backup":
            out = backup_sqlite(database_url(args.db), args.out)
            print(f"Backup written to {out} (restore: stop the app, move the database and its -wal/-shm files "
                  "aside, copy the backup to the database's name, start the app).")
            return 0
        factory = make_session_factory(prepare_database(args.db))
        if args.command == "create":
            from rating.study_request import StudyRequest, build_study
            request = StudyRequest(name=args.name or f"study-{args.seed}-{args.n}", raters=_names(args.raters),
                                   data_path=args.data, n=args.n, seed=args.seed, stratify=args.stratify,
                                   systems=_names(args.systems), import_path=args.import_path,
                                   include_reference=args.include_reference, k=args.k,
                                   n_calibration=args.calibration, n_repeats=args.repeats, split=args.split)
            created = build_study(factory, request,
                                  progress=lambda f, msg: print(f"  [{f:4.0%}] {msg}", file=sys.stderr))
            print(f"Study {created.study_id} '{request.name}': {created.n_cases} cases, {created.n_systems} systems, "
                  f"{created.n_outputs} outputs, {created.n_assignments} assignments.")
            print("Invitation links (shown once; store them safely):")
            for name, token in created.rater_tokens.items():
                print(f"  {name}: {invitation_link(args.base_url, token)}   (access code: {token})")
        elif args.command in ("add-rater", "reissue"):
            with unit_of_work(factory) as session:
                token = (add_rater(session, args.study, RaterSpec(name=args.name)) if args.command == "add-rater"
                         else reissue_token(session, args.study, args.name))
            print(f"{args.name}: {invitation_link(args.base_url, token)}   (access code: {token})")
        elif args.command == "revoke":
            with unit_of_work(factory) as session:
                revoke_rater(session, args.study, args.name)
            print(f"Revoked {args.name} in study {args.study}.")
        else:
            _list(factory)
    except (StudySetupError, ImportFormatError, MalformedFile, FileNotFoundError, FileExistsError, DatabaseRefused,
            DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _list(factory) -> None:
    from sqlalchemy import func, select

    from db.engine import unit_of_work
    from db.models import Assignment, Rater, Rating, Study

    with unit_of_work(factory) as session:
        for study in session.scalars(select(Study).order_by(Study.id)):
            print(f"Study {study.id} '{study.name}'{' (simulated)' if study.simulated else ''}")
            for r in session.scalars(select(Rater).where(Rater.study_id == study.id).order_by(Rater.id)):
                n_assigned = session.scalar(select(func.count(Assignment.id)).where(Assignment.rater_id == r.id))
                n_rated = session.scalar(select(func.count(func.distinct(Rating.assignment_id)))
                                         .where(Rating.rater_id == r.id))
                print(f"  {r.pseudonym} {r.name}: {n_rated}/{n_assigned} cases"
                      f"{'  REVOKED' if r.revoked else ''}")


if __name__ == "__main__":
    sys.exit(main())
