"""Second red team: others' wrong admin secrets locked out the admin who had signed in.

Five posts of wrong secrets (a page the admin visited, or anyone behind the same address) locked the
address out for 15 minutes, and the signed-in admin's own Study admin actions (which check the
secret through AdminService.require) were refused with it. Now a signed-in browser is never refused
for others' failures; it still needs the right secret, and a guesser without a session stays locked out.
"""
from __future__ import annotations

import pytest

from db.engine import make_session_factory, prepare_database
from rating.admin import AdminDenied, AdminLockedOut, AdminService

SECRET = "admin-session-lockout-secret-0123"


def test_a_signed_in_admin_is_not_locked_out_by_others_failures(tmp_path):
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    session = {"signed_in": False}
    admin = AdminService(factory, admin_secret=SECRET, signed_in=lambda: session["signed_in"])
    for i in range(5):
        with pytest.raises(AdminDenied):
            admin.require(f"wrong-secret-{i:02d}-abcdefgh", client="10.7.0.1")
    with pytest.raises(AdminLockedOut):
        admin.require(SECRET, client="10.7.0.1")  # the guesser (no session) stays locked out
    session["signed_in"] = True
    admin.require(SECRET, client="10.7.0.1")  # the signed-in admin at the same address works on
    with pytest.raises(AdminDenied):
        admin.require("wrong-secret-again-abcdefgh", client="10.7.0.1")  # and still needs the secret
