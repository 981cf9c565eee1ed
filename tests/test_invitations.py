"""Invitation links: public base URL, the one-time CSV store, workload estimates (real files, real SQLite)."""
from __future__ import annotations

import csv
import io
import stat
import time

import pytest

from app import parse_args
from rating.invitations import OneTimeDownloads, links_csv, normalise_public_url
from tests.support.rating_support import make_study


def test_public_url_flag_env_and_default(monkeypatch):
    monkeypatch.delenv("RADLLAMA_PUBLIC_URL", raising=False)
    assert parse_args(["--host", "127.0.0.1", "--port", "8123"]).links_base_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("RADLLAMA_PUBLIC_URL", "https://ratings.example.org/study/")
    assert parse_args([]).links_base_url == "https://ratings.example.org/study"
    assert parse_args(["--public-url", "http://10.0.0.5:7860"]).links_base_url == "http://10.0.0.5:7860"
    for bad in ("ratings.example.org", "ftp://x", "https://host/?token=1", "https://user:pw@host", "http://h:99999"):
        with pytest.raises(ValueError):
            normalise_public_url(bad)
    with pytest.raises(SystemExit):
        parse_args(["--public-url", "javascript:alert(1)"])


def test_one_time_store_hands_a_private_file_out_once_and_deletes_it(tmp_path):
    store = OneTimeDownloads(root=tmp_path)
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    key = store.put(b"rater,link\r\n", "links.csv")
    (path,) = list(store.folder.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.take("not-" + key) is None and path.exists()  # a wrong key takes nothing
    assert store.take(key) == ("links.csv", b"rater,link\r\n")
    assert not path.exists()
    assert store.take(key) is None  # once only
    store.close()
    assert not store.folder.exists()


def test_one_time_store_expired_keys_give_nothing_and_files_go(tmp_path):
    store = OneTimeDownloads(ttl_s=0.2, root=tmp_path)
    first = store.put(b"a", "a.csv")
    second = store.put(b"b", "b.csv")
    assert len(list(store.folder.iterdir())) == 2
    time.sleep(0.6)  # nobody asks: the files go on their own when the keys expire
    assert list(store.folder.iterdir()) == [] and store.pending() == 0
    assert store.take(first) is None and store.take(second) is None


def test_links_csv_has_rater_link_and_code_and_defuses_formulas(tmp_path):
    from db.engine import make_session_factory, prepare_database
    from rating.admin import AdminService

    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    admin = AdminService(factory, admin_secret="s" * 16, public_url="https://ratings.example.org/p")
    rows = admin.invitations({"Dr A": "tok-A", "=HYPERLINK(\"http://evil\")": "tok-B"})
    assert rows[0].link == "https://ratings.example.org/p/rate/?token=tok-A"
    table = list(csv.reader(io.StringIO(links_csv(rows).decode("utf-8"))))
    assert table[0] == ["rater", "link", "access_code"]
    assert table[1] == ["Dr A", "https://ratings.example.org/p/rate/?token=tok-A", "tok-A"]
    assert table[2][0] == "'=HYPERLINK(\"http://evil\")" and table[2][2] == "tok-B"
    assert admin.links_download("s" * 16, rows, "x.csv") is None  # no store configured: no CSV offered
    with pytest.raises(PermissionError):
        admin.links_download("wrong", rows, "x.csv")


def test_workload_counts_the_stored_queue(tmp_path):
    from db.engine import make_session_factory, prepare_database, unit_of_work
    from rating.workload import SECONDS_PER_RATING, format_duration, rater_workloads

    make_study(tmp_path / "w.db", n_raters=3, n_cases=6, k=2, n_calibration=1, n_repeats=1)
    factory = make_session_factory(prepare_database(str(tmp_path / "w.db")))
    with unit_of_work(factory) as session:
        loads = rater_workloads(session, 1)
    # 1 calibration case + 5 own cases x 2 raters / 3 raters (3 or 4 each) + 1 repeat; 3 systems per case
    assert [w.rater for w in loads] == ["Dr 00", "Dr 01", "Dr 02"]
    assert sum(w.n_cases for w in loads) == 3 * 1 + 5 * 2 + 3 * 1
    assert all(w.n_ratings == 3 * w.n_cases and w.seconds == w.n_ratings * SECONDS_PER_RATING for w in loads)
    assert [format_duration(s) for s in (10, 90, 3600, 7530)] == ["1 min", "2 min", "1 h 00 min", "2 h 06 min"]
