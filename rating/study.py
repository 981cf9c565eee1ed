"""Command line for setting up rating studies (whoever can write the database file is admin).

  python -m rating.study create --db radllama.db --name pilot --n 20 --seed 0 --stratify \
      --systems default,retrieval --import outside.jsonl --include-reference \
      --display-names "default=Radiology-Llama (ours),retrieval=Retrieval" \
      --raters "Dr A,Dr B" --k 2 --calibration 2 --repeats 2 --public-url https://ratings.example.org
  python -m rating.study add-rater --db radllama.db --study 1 --name "Dr C"
  python -m rating.study revoke --db radllama.db --study 1 --name "Dr B"
  python -m rating.study reissue --db radllama.db --study 1 --name "Dr B"
  python -m rating.study list --db radllama.db
  python -m rating.study copy --from sqlite:///pilot.db --to postgresql+psycopg://user@host:5432/radllama
  python -m rating.study backup --db radllama.db --out backups/radllama-2026-11-30.db

Invitation links and tokens are printed once; only their hashes are stored. Links start with
--public-url (or $RADLLAMA_PUBLIC_URL; default http://127.0.0.1:7860), the address raters reach
the server at. `create` also prints each rater's estimated workload (cases x candidates x 30 s).
`copy` moves a whole study database into an empty one (SQLite <-> PostgreSQL), verified by row
counts and a checksum of the ratings (rating/study_copy.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _when(text: str):
    """An expiry moment from the command line: ISO date/time (UTC when no zone is given) or 'never'."""
    from datetime import datetime, timezone

    from rating.study_setup import StudySetupError
    if text.strip().lower() == "never":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StudySetupError(f"not a date/time: {text!r} (use e.g. 2026-12-31 or 2026-12-31T18:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rating.study", description="Set up blinded rating studies")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--db", default=os.environ.get("RADLLAMA_DB"), help="SQLite file or SQLAlchemy URL")
        sp.add_argument("--public-url", "--base-url", dest="public_url",
                        default=os.environ.get("RADLLAMA_PUBLIC_URL") or "http://127.0.0.1:7860",
                        help="server address raters use, the base of their links (env RADLLAMA_PUBLIC_URL)")

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
    c.add_argument("--split", default=None, choices=("train", "validate", "test", "all"),
                   help="reports to draw cases from (default: the test split of the project's data or of a file "
                        "with a split column; the whole of a file without one)")
    c.add_argument("--instructions", help="Markdown file of instructions shown to raters")
    c.add_argument("--expires", help="invitations stop working at this ISO date/time (UTC unless zoned)")
    c.add_argument("--protocol", "--protocols", dest="protocols", default="likert",
                   help="what raters record: likert, errors, pairwise, or combined, e.g. likert,errors")
    c.add_argument("--gold", dest="gold_path", help="CSV of gold cases: case_id, planted_text, expected")
    c.add_argument("--display-names", default="",
                   help='names in figures and tables, e.g. "default=Radiology-Llama (ours),retrieval=Retrieval"')

    for cmd, what in (("add-rater", "invite one more rater"), ("revoke", "withdraw a rater's access"),
                      ("reissue", "new token for a rater (old link stops working)")):
        s = sub.add_parser(cmd, help=what)
        common(s)
        s.add_argument("--study", type=int, required=True)
        s.add_argument("--name", required=True)
    ins = sub.add_parser("instructions", help="set the instructions raters see (Markdown file)")
    common(ins)
    ins.add_argument("--study", type=int, required=True)
    ins.add_argument("--file", required=True, help="Markdown file ('-' for stdin)")
    exp = sub.add_parser("expire", help="set when invitations stop working (a study's, or one rater's)")
    common(exp)
    exp.add_argument("--study", type=int, required=True)
    exp.add_argument("--at", required=True, help="ISO date/time (UTC unless it names a zone), or 'never'")
    exp.add_argument("--name", help="one rater only")
    lst = sub.add_parser("list", help="studies and raters")
    common(lst)
    cp = sub.add_parser("copy", help="copy a whole study database into an empty one (SQLite <-> PostgreSQL)")
    cp.add_argument("--from", dest="source", required=True, help="source: SQLite file or SQLAlchemy URL")
    cp.add_argument("--to", dest="target", required=True, help="target (empty): SQLite file or SQLAlchemy URL")
    cp.add_argument("--snapshot", action="store_true",
                    help="copy a SQLite file that a running app has open anyway (a snapshot: later ratings are "
                         "not in the copy); without it such a source is refused")
    b = sub.add_parser("backup", help="consistent copy of the live SQLite database (safe while raters submit)")
    b.add_argument("--db", default=os.environ.get("RADLLAMA_DB"), help="SQLite file or sqlite:/// URL")
    b.add_argument("--out", required=True, help="backup file to create (must not exist)")
    return p


def _copy(args) -> int:
    import json

    from db.engine import database_url
    from rating.study_copy import StudyCopyError, copy_study_database

    try:
        report = copy_study_database(database_url(args.source), database_url(args.target), snapshot=args.snapshot)
    except StudyCopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report.warning():
        print(report.warning(), file=sys.stderr)
    print(json.dumps(report.as_json()))
    return 0


def main(argv: list[str] | None = None) -> int:
    from db.engine import (DatabaseRefused, DatabaseUnavailable, backup_sqlite, database_url, make_session_factory,
                           prepare_database, unit_of_work)
    from rating.admin import invitation_link
    from rating.importer import ImportFormatError
    from rating.invitations import normalise_public_url
    from rating.protocols.gold import GoldFileError
    from rating.study_setup import RaterSpec, StudySetupError, add_rater, reissue_token, revoke_rater
    from reports.errors import MalformedFile

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "copy":
        return _copy(args)
    if args.command != "backup":
        try:
            args.public_url = normalise_public_url(args.public_url)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        if args.command == "backup":
            out = backup_sqlite(database_url(args.db), args.out)
            print(f"Backup written to {out} (restore: stop the app, move the database and its -wal/-shm files "
                  "aside, copy the backup to the database's name, start the app).")
            return 0
        factory = make_session_factory(prepare_database(args.db))
        if args.command == "create":
            from rating.study_request import StudyRequest, build_study, parse_display_names
            from rating.workload import rater_workloads, workload_lines
            request = StudyRequest(name=args.name or f"study-{args.seed}-{args.n}", raters=_names(args.raters),
                                   data_path=args.data, n=args.n, seed=args.seed, stratify=args.stratify,
                                   systems=_names(args.systems), import_path=args.import_path,
                                   include_reference=args.include_reference, k=args.k,
                                   n_calibration=args.calibration, n_repeats=args.repeats, split=args.split,
                                   display_names=parse_display_names(args.display_names),
                                   protocols=args.protocols, gold_path=args.gold_path)
            instructions = Path(args.instructions).read_text(encoding="utf-8") if args.instructions else ""
            expires = _when(args.expires) if args.expires else None
            created = build_study(factory, request,
                                  progress=lambda f, msg: print(f"  [{f:4.0%}] {msg}", file=sys.stderr))
            if instructions or expires:
                from rating.study_setup import set_expiry, set_instructions
                with unit_of_work(factory) as session:
                    set_instructions(session, created.study_id, instructions)
                    set_expiry(session, created.study_id, expires)
            for warning in created.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"Study {created.study_id} '{request.name}': {created.n_cases} cases, {created.n_systems} systems, "
                  f"{created.n_outputs} outputs, {created.n_assignments} assignments; protocol {request.protocols}.")
            with unit_of_work(factory) as session:
                workloads = rater_workloads(session, created.study_id)
            head, *lines = workload_lines(workloads)
            print(head)
            for line in lines:
                print(f"  {line}")
            print("Invitation links (shown once; store them safely):")
            for name, token in created.rater_tokens.items():
                print(f"  {name}: {invitation_link(args.public_url, token)}   (access code: {token})")
        elif args.command in ("add-rater", "reissue"):
            with unit_of_work(factory) as session:
                token = (add_rater(session, args.study, RaterSpec(name=args.name)) if args.command == "add-rater"
                         else reissue_token(session, args.study, args.name))
            print(f"{args.name}: {invitation_link(args.public_url, token)}   (access code: {token})")
        elif args.command == "revoke":
            with unit_of_work(factory) as session:
                revoke_rater(session, args.study, args.name)
            print(f"Revoked {args.name} in study {args.study}.")
        elif args.command == "instructions":
            from rating.study_setup import set_instructions
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            with unit_of_work(factory) as session:
                set_instructions(session, args.study, text)
            print(f"Study {args.study}: instructions set ({len(text)} characters).")
        elif args.command == "expire":
            from rating.study_setup import set_expiry
            when = _when(args.at)
            with unit_of_work(factory) as session:
                set_expiry(session, args.study, when, args.name)
            print(f"{args.name or f'Study {args.study}'}: invitations expire {when.isoformat() if when else 'never'}.")
        else:
            _list(factory)
    except (StudySetupError, ImportFormatError, MalformedFile, FileNotFoundError, FileExistsError, DatabaseRefused,
            DatabaseUnavailable, GoldFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnicodeError as exc:  # a lone surrogate in an argument (non-UTF-8 bytes); never a codec traceback
        from rating.admin import user_error_message
        print(f"error: {user_error_message(exc)}", file=sys.stderr)
        return 2
    return 0


def _list(factory) -> None:
    from sqlalchemy import func, select

    from db.engine import unit_of_work
    from db.models import Assignment, Rater, Study
    from rating.protocols.service import unrated_positions

    with unit_of_work(factory) as session:
        for study in session.scalars(select(Study).order_by(Study.id)):
            print(f"Study {study.id} '{study.name}'{' (simulated)' if study.simulated else ''}"
                  f" [{study.protocols}]")
            for r in session.scalars(select(Rater).where(Rater.study_id == study.id).order_by(Rater.id)):
                n_assigned = session.scalar(select(func.count(Assignment.id)).where(Assignment.rater_id == r.id))
                n_rated = (n_assigned or 0) - len(unrated_positions(session, r.id, r.study_id))
                print(f"  {r.pseudonym} {r.name}: {n_rated}/{n_assigned} cases"
                      f"{'  REVOKED' if r.revoked else ''}")


if __name__ == "__main__":
    sys.exit(main())
