"""Attack: guess rater tokens or the admin secret as fast as the server answers.

Before the fix nothing slowed a guesser down: after any number of wrong codes the next request
was served as usual. Now a client with 10 wrong access codes (5 wrong admin secrets) within 10
minutes is refused for 15 minutes, even with the right code; other clients are not affected.
"""
from __future__ import annotations

import pytest

from tests.support.rating_support import AppServer, client, make_study
from tests.security.support import ADMIN_SECRET, http, serve_open_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_lockout")]


def test_wrong_rater_tokens_lock_the_client_out(tmp_path):
    db = tmp_path / "s.db"
    created = make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    token = next(iter(created.rater_tokens.values()))
    server = AppServer(db, admin_secret=ADMIN_SECRET).start()
    try:
        c = client(server.rater_url)
        c.predict(token, api_name="/sign_in")  # the right code works at first
        for i in range(11):
            with pytest.raises(Exception):
                c.predict(f"guess-{i:02d}-" + "x" * 30, api_name="/sign_in")
        with pytest.raises(Exception) as refused:
            c.predict(token, api_name="/sign_in")
        assert "too many" in str(refused.value).lower()
    finally:
        server.stop()


def test_wrong_admin_secrets_lock_the_client_out(tmp_path):
    app, _ = serve_open_study(tmp_path, netguard=False)
    try:
        right = {"Authorization": f"Bearer {ADMIN_SECRET}"}
        assert http(app.url + "/config", headers=right)[0] == 200
        for i in range(6):
            status, _ = http(app.url + "/config", headers={"Authorization": f"Bearer wrong-secret-{i:04d}-abcdef"})
            assert status in (401, 403, 429)
        assert http(app.url + "/config", headers=right)[0] == 429
        status, body = http(app.url + "/admin/sign-in", method="POST", data=f"secret={ADMIN_SECRET}".encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 429 and b"Too many" in body
    finally:
        app.stop()
