"""AdminService.require with a browser signed in at /admin/sign-in (issue 18): an empty secret passes
only while signed_in() says so; a wrong secret never passes."""
from __future__ import annotations

import pytest

from db.engine import make_session_factory, prepare_database
from rating.admin import AdminDenied, AdminService

SECRET = "admin-secret-for-signed-in-test"


def test_an_empty_secret_passes_only_for_a_signed_in_browser(tmp_path):
    factory = make_session_factory(prepare_database(str(tmp_path / "a.db")))
    signed = {"in": False}
    admin = AdminService(factory, admin_secret=SECRET, signed_in=lambda: signed["in"])
    for empty in ("", "   ", None):
        with pytest.raises(AdminDenied):
            admin.require(empty, client="pi")
    admin.require(SECRET, client="pi")
    signed["in"] = True
    for empty in ("", "   ", None):
        admin.require(empty, client="pi")
    with pytest.raises(AdminDenied):
        admin.require("not-the-secret", client="pi")  # a typed secret must still be right
    factory.kw["bind"].dispose()
