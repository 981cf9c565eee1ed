"""Attack: odd values (nan, inf, huge numbers, NUL characters) in the rater's submit API and the
admin's number inputs. Before the fix "nan" and "inf" scores raised unhandled exceptions (a raw
server error instead of the usual message) and NUL characters were stored in comments."""
from __future__ import annotations

import pytest

from db.models import CRITERIA
from rating.service import RatingError, RatingService
from tests.support.rating_support import AppServer, client, make_study, submit_args
from tests.security.study_kit import study_with_texts

ODD = ("nan", "NaN", "inf", "-inf", "1e309", float("nan"), float("inf"), "4\x00")


@pytest.mark.parametrize("value", ODD, ids=repr)
def test_odd_scores_and_positions_get_the_usual_message(tmp_path, value):
    factory, tokens = study_with_texts(tmp_path / "s.db", {"a": ["Clear lungs."], "b": ["Normal chest."]})
    token = next(iter(tokens.values()))
    service = RatingService(factory)
    view = service.resume(token)
    forms = [{"label": c.label, **{k: 4 for k in CRITERIA}} for c in view.candidates]
    forms[0]["relevance"] = value
    with pytest.raises(RatingError, match="whole number from 1 to 5"):
        service.submit(token, 0, forms)
    with pytest.raises(RatingError, match="no case|Unknown case position"):
        service.open_case(token, value)
    assert service.resume(token).candidates[0].scores == {}  # nothing stored


def test_nul_in_a_comment_is_refused(tmp_path):
    factory, tokens = study_with_texts(tmp_path / "s.db", {"a": ["Clear lungs."]})
    token = next(iter(tokens.values()))
    service = RatingService(factory)
    form = {"label": "A", **{k: 4 for k in CRITERIA}, "comment": "fine\x00<script>"}
    with pytest.raises(RatingError, match="character"):
        service.submit(token, 0, [form])


@pytest.mark.parametrize("value", ("nan", float("inf"), "-inf", "1e400", "2.5", "x", None, True))
def test_admin_number_inputs_get_a_clear_message(value):
    from rating.form_values import whole_number

    with pytest.raises(ValueError, match="Cases"):
        whole_number(value, "Cases (N)", minimum=1)
    assert whole_number("20", "Cases (N)", minimum=1) == 20 and whole_number(3.0, "Seed") == 3


@pytest.mark.slow
@pytest.mark.xdist_group("security_odd")
def test_the_rater_api_answers_nan_and_inf_with_the_usual_message(tmp_path):
    db = tmp_path / "s.db"
    created = make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    token = next(iter(created.rater_tokens.values()))
    server = AppServer(db, admin_secret="odd-values-admin-secret-123").start()
    try:
        c = client(server.rater_url)
        c.predict(token, api_name="/sign_in")
        for odd in ("nan", "inf", "-1e999"):
            with pytest.raises(Exception) as refused:
                args = submit_args(token, 0, 3)
                args[2][0]["relevance"] = odd
                c.predict(*args, api_name="/submit")
            assert "whole number from 1 to 5" in str(refused.value)
            with pytest.raises(Exception) as refused:
                c.predict(token, odd, api_name="/next_case")
            assert "position" in str(refused.value).lower() or "no case" in str(refused.value).lower()
    finally:
        server.stop()
