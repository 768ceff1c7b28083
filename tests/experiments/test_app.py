"""HTTP behaviour of the experiment server: sessions, idempotent responses, endings, and every
refusal (4xx with a message, nothing stored)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from starlette.testclient import TestClient

from repalign.experiments import Experiment, create_app
from repalign.experiments.app import MAX_BODY

from .conftest import complete, make_config, onscreen, response_body


def n_rows(exp: Experiment, table: str) -> int:
    return exp.store.read(f"SELECT count(*) FROM {table}")[0][0]


def test_session_is_stable_across_reloads_and_balanced(client, experiment):
    a = client.post("/api/session", json={"participant_id": "A", "study_id": "S",
                                          "session_id": "X"}).json()
    assert a["status"] == "active" and a["next_trial"] == 0
    assert a["n_trials"] == 4 + 1 + 1  # main + repeat + known
    kinds = sorted(t["kind"] for t in a["trials"])
    assert kinds == ["catch_known", "catch_repeat", "main", "main", "main", "main"]
    again = client.post("/api/session", json={"participant_id": "A"}).json()
    assert again["trials"] == a["trials"]
    first = a["trials"][0]
    r = client.post("/api/response", json=response_body("A", first, {"choice": 1}))
    assert r.json() == {"ack": True, "duplicate": False, "next_trial": 1}
    assert client.post("/api/session", json={"participant_id": "A"}).json()["next_trial"] == 1
    # a second participant gets the 4 planned trials A did not get (least assigned first)
    b = client.post("/api/session", json={"participant_id": "B"}).json()
    planned = {r[0]: r[1] for r in experiment.store.read(
        "SELECT id, n_assigned FROM planned_trials")}
    assert sorted(planned.values()) == [1] * 8
    pa = {r[0] for r in experiment.store.read(
        "SELECT planned_id FROM assignments WHERE participant = 1 AND kind = 'main'")}
    pb = {r[0] for r in experiment.store.read(
        "SELECT planned_id FROM assignments WHERE participant = 2 AND kind = 'main'")}
    assert pa.isdisjoint(pb) and len(pa | pb) == 8
    assert b["trials"] != a["trials"]


def test_positions_are_randomised_and_recorded(client, experiment):
    seen = set()
    for k in range(6):
        s = client.post("/api/session", json={"participant_id": f"P{k}"}).json()
        for t in s["trials"]:
            assert sorted(t["positions"]) == [0, 1, 2]
            seen.add(tuple(t["positions"]))
    assert len(seen) > 3  # several on-screen orders, not one fixed layout
    spec = json.loads(experiment.store.read("SELECT spec FROM assignments LIMIT 1")[0][0])
    assert "positions" in spec


def test_repeated_response_is_acknowledged_once(client, experiment):
    s = client.post("/api/session", json={"participant_id": "A"}).json()
    body = response_body("A", s["trials"][0], {"choice": 2}, rid="resp-0001")
    answer = client.post("/api/response", json=body)
    assert answer.headers["server-timing"].startswith("app;dur=")
    first = answer.json()
    second = client.post("/api/response", json=body).json()
    assert first["duplicate"] is False and second["duplicate"] is True
    assert n_rows(experiment, "responses") == 1
    # the same trial with another response id is refused, the first answer kept
    other = client.post("/api/response", json={**body, "response_id": "resp-0002",
                                               "response": {"choice": 0}})
    assert other.status_code == 409 and "already answered" in other.json()["error"]
    # the same response id for another trial is refused
    t1 = s["trials"][1]
    clash = client.post("/api/response", json=response_body("A", t1, {"choice": 0},
                                                            rid="resp-0001"))
    assert clash.status_code == 409
    assert n_rows(experiment, "responses") == 1


def test_finish_gives_completion_code_and_blocks_retake(client, experiment):
    r = client.post("/api/finish", json={"participant_id": "A"})
    assert r.status_code == 404
    complete(client, "A")
    end = client.post("/api/finish", json={"participant_id": "A"}).json()
    assert end == {"status": "completed", "completion_code": "DONE-1", "redirect_url": None}
    assert client.post("/api/finish", json={"participant_id": "A"}).json() == end
    again = client.post("/api/session", json={"participant_id": "A"}).json()
    assert again["status"] == "completed" and again["trials"] == []
    assert again["completion"]["completion_code"] == "DONE-1"
    before = n_rows(experiment, "responses")
    s = experiment.store.read("SELECT spec FROM assignments WHERE participant = 1 LIMIT 1")
    t = json.loads(s[0][0])
    late = client.post("/api/response", json={
        "participant_id": "A", "trial_index": t["trial_index"], "response_id": uuid.uuid4().hex,
        "response": {"choice": 0}, "rt_ms": 5.0, "onscreen_order": t["stimuli"]})
    assert late.status_code == 409 and n_rows(experiment, "responses") == before


def test_failed_attention_check_gets_failure_code_and_flag(client, experiment):
    def wrong(trial):
        ids = [x["id"] for x in trial["stimuli"]]
        if trial["kind"] == "catch_known":  # pick one of the twins, not the odd one out
            return {"choice": next(i for i, v in enumerate(ids) if ids.count(v) == 2)}
        return {"choice": 0}

    complete(client, "F", answer=wrong)
    end = client.post("/api/finish", json={"participant_id": "F"}).json()
    assert end["status"] == "failed" and end["failure_code"] == "FAIL-1"
    assert "completion_code" not in end
    flags = experiment.store.read("SELECT rule FROM flags")
    assert flags == [("failed_catch",)]
    assert n_rows(experiment, "responses") == 6  # nothing deleted


def test_too_fast_participant_is_flagged_but_completes(client, experiment):
    s = client.post("/api/session", json={"participant_id": "Q"}).json()
    for t in s["trials"]:
        ids = [x["id"] for x in t["stimuli"]]
        a = ({"choice": ids.index(next(i for i in ids if ids.count(i) == 1))}
             if t["kind"] == "catch_known" else {"choice": 0})
        body = {**response_body("Q", t, a), "rt_ms": 40.0}
        assert client.post("/api/response", json=body).status_code == 200
    end = client.post("/api/finish", json={"participant_id": "Q"}).json()
    assert end["status"] == "completed"
    assert [r[0] for r in experiment.store.read("SELECT rule FROM flags")] == ["too_fast"]


def test_finish_refused_while_trials_unanswered(client):
    client.post("/api/session", json={"participant_id": "A"})
    r = client.post("/api/finish", json={"participant_id": "A"})
    assert r.status_code == 409 and "unanswered" in r.json()["error"]


@pytest.mark.parametrize(("body", "status", "message"), [
    ("not json", 400, "not valid JSON"),
    ("[1, 2]", 422, "JSON object"),
    ('{"participant_id": "A", "trial_index": 0}', 422, "response_id"),
    ('{"participant_id": "A", "trial_index": -1, "response_id": "abcdefgh", "response": {}, '
     '"rt_ms": 1, "onscreen_order": []}', 422, "trial_index"),
    ('{"participant_id": "A", "trial_index": 0, "response_id": "abcdefgh", "response": '
     '{"choice": 0}, "rt_ms": 1, "onscreen_order": [], "extra": 1}', 422, "extra"),
    ('{"participant_id": "A", "trial_index": 0, "response_id": "abc", "response": '
     '{"choice": 0}, "rt_ms": 1, "onscreen_order": []}', 422, "response_id"),
    ('{"participant_id": "A", "trial_index": 0, "response_id": "abcdefgh", "response": '
     '{"choice": 0}, "rt_ms": "NaN", "onscreen_order": []}', 422, "rt_ms"),
])
def test_malformed_response_bodies_are_refused(client, experiment, body, status, message):
    client.post("/api/session", json={"participant_id": "A"})
    r = client.post("/api/response", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert "Traceback" not in r.text
    assert n_rows(experiment, "responses") == 0


def test_invalid_answers_are_refused_and_not_stored(client, experiment):
    s = client.post("/api/session", json={"participant_id": "A"}).json()
    t = s["trials"][0]
    cases = [
        ({"choice": 3}, onscreen(t), "choice"),
        ({"choice": True}, onscreen(t), "choice"),
        ({"rating": 3}, onscreen(t), "unknown key"),
        ({}, onscreen(t), "choice"),
        ({"choice": 0}, ["x00000", "x00001", "x99999"], "onscreen_order"),
    ]
    for answer, shown, message in cases:
        body = {**response_body("A", t, answer), "onscreen_order": shown}
        r = client.post("/api/response", json=body)
        assert r.status_code == 422 and message in r.json()["error"], (answer, r.text)
    r = client.post("/api/response", json={**response_body("A", t, {"choice": 0}),
                                           "trial_index": 99})
    assert r.status_code == 422 and "trial_index" in r.json()["error"]
    r = client.post("/api/response", json=response_body("nobody", t, {"choice": 0}))
    assert r.status_code == 404
    assert n_rows(experiment, "responses") == 0


def test_oversized_wrong_type_and_bad_ids_are_refused(client, experiment):
    big = json.dumps({"participant_id": "A", "pad": "x" * (MAX_BODY + 10)})
    r = client.post("/api/session", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/session", content="participant_id=A",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    for pid in ["", "a b", "<script>", "x" * 129, "../etc"]:
        r = client.post("/api/session", json={"participant_id": pid})
        assert r.status_code == 422, pid
    r = client.get("/api/session")
    assert r.status_code == 405 and r.json()["error"]
    assert n_rows(experiment, "participants") == 0


def test_chunked_oversized_body_is_refused(client, experiment):
    def chunks():
        yield b'{"participant_id": "A", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/api/session", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert n_rows(experiment, "participants") == 0


def test_admin_and_export_need_the_token(client, experiment):
    for path in ["/admin", "/admin/plot.svg", "/api/export"]:
        assert client.get(path).status_code == 401
        assert client.get(path + "?token=wrong").status_code == 403
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 403
        ok = client.get(path, headers={"Authorization": "Bearer test-token-0123456789"})
        assert ok.status_code == 200
    complete(client, "A")
    csv_text = client.get("/api/export?token=test-token-0123456789").text
    assert csv_text.splitlines()[0].startswith("participant,participant_id")
    assert len(csv_text.splitlines()) == 1 + 6
    svg = client.get("/admin/plot.svg?token=test-token-0123456789")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content


def test_participant_answers_reveal_nothing_about_others(client):
    complete(client, "ALPHA-7")
    client.post("/api/finish", json={"participant_id": "ALPHA-7"})
    b = client.post("/api/session", json={"participant_id": "B"}).text
    assert "ALPHA-7" not in b and "DONE-1" not in b and '"answer"' not in b
    assert "flags" not in b and "repeat_of" not in b


def test_stimuli_only_the_experiments_own(client, tmp_path):
    assert client.get("/stimuli/x00000.png").headers["content-type"] == "image/png"
    for path in ["/stimuli/x99999.png", "/stimuli/../app.py", "/stimuli/%2e%2e/%2e%2e/etc/passwd",
                 "/stimuli/..%2f..%2fpyproject.toml", "/stimuli/x00000.png/..",
                 "/static/../app.py", "/vendor/../app.py", "/vendor/jspsych/package.json",
                 "/vendor/%2e%2e/index.html", "/nothing"]:
        r = client.get(path)
        assert r.status_code == 404, path


def test_security_headers_on_every_response(client):
    for r in [client.get("/"), client.get("/nothing"),
              client.post("/api/session", json={"participant_id": "A"}),
              client.get("/admin")]:
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_config_texts_with_script_are_escaped(tmp_path):
    evil = '</script><script>alert("x")</script> & <b>bold</b>'
    cfg = make_config(texts={"title": evil, "consent": evil, "instructions": evil},
                      name="evil")
    exp = Experiment.open(cfg, tmp_path / "e.sqlite")
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text(
        '<html><script type="application/json" id="experiment-config">__EXPERIMENT_CONFIG__'
        "</script><body></body></html>")
    with TestClient(create_app(exp, web_dir=web)) as c:
        page = c.get("/").text
        assert "<script>alert" not in page and "</script><script>" not in page
        block = re.search(r'id="experiment-config">(.*?)</script>', page, re.S).group(1)
        assert json.loads(block)["texts"]["title"] == evil  # intact once parsed as JSON
        complete(c, "<b>x</b>".replace("<", "").replace(">", "").replace("/", ""))
        admin = c.get("/admin?token=test-token-0123456789").text
        assert "<script>alert" not in admin and "&lt;/script&gt;" in admin
    exp.store.close()


def test_participant_strings_are_escaped_in_admin(client):
    client.post("/api/session", json={"participant_id": "A_b-1", "study_id": "S",
                                      "session_id": "X"})
    admin = client.get("/admin?token=test-token-0123456789").text
    assert "A_b-1" in admin


def test_restart_keeps_everything(tmp_path):
    db = tmp_path / "exp.sqlite"
    exp = Experiment.open(make_config(), db)
    with TestClient(create_app(exp)) as c:
        sent = complete(c, "A")[:3]
    exp.store.close()
    exp2 = Experiment.open(make_config(texts={"title": "changed"}), db)  # texts may change
    assert exp2.token == "test-token-0123456789"
    with TestClient(create_app(exp2)) as c:
        s = c.post("/api/session", json={"participant_id": "A"}).json()
        assert s["next_trial"] == 6 and s["texts"]["title"] == "changed"
        dup = c.post("/api/response", json=sent[0]).json()
        assert dup["duplicate"] is True
    assert n_rows(exp2, "responses") == 6
    exp2.store.close()
    from repalign.errors import ConfigError

    with pytest.raises(ConfigError, match="another experiment design"):
        Experiment.open(make_config(design={"trials_per_participant": 5}), db)


def test_generated_token_persists(tmp_path):
    cfg = make_config()
    del cfg["admin_token"]
    exp = Experiment.open(cfg, tmp_path / "e.sqlite")
    assert exp.token_generated and len(exp.token) >= 24
    token = exp.token
    exp.store.close()
    again = Experiment.open(cfg, tmp_path / "e.sqlite")
    assert again.token == token and not again.token_generated
    again.store.close()


def test_missing_jspsych_names_the_install_command(tmp_path):
    from repalign.errors import MissingDependencyError
    from repalign.experiments.app import check_web_assets

    with pytest.raises(MissingDependencyError, match="npm ci --prefix src/repalign/experiments/web"):
        check_web_assets(tmp_path)


def test_vendor_serves_only_jspsych_dist(tmp_path, experiment):
    web = tmp_path / "web"
    dist = web / "node_modules" / "jspsych" / "dist"
    dist.mkdir(parents=True)
    (dist / "index.browser.min.js").write_text("/* js */")
    (web / "node_modules" / "jspsych" / "package.json").write_text("{}")
    (web / "node_modules" / "other").mkdir()
    (web / "node_modules" / "other" / "x.js").write_text("x")
    with TestClient(create_app(experiment, web_dir=web)) as c:
        assert c.get("/vendor/jspsych/dist/index.browser.min.js").text == "/* js */"
        assert c.get("/vendor/jspsych/package.json").status_code == 404
        assert c.get("/vendor/other/x.js").status_code == 404


def test_redirect_url_comes_with_its_delay(tmp_path):
    cfg = make_config(completion={"redirect_url": "https://example.org/done?cc=DONE-1",
                                  "redirect_after_ms": 3000})
    exp = Experiment.open(cfg, tmp_path / "e.sqlite")
    with TestClient(create_app(exp)) as c:
        complete(c, "A")
        end = c.post("/api/finish", json={"participant_id": "A"}).json()
    exp.store.close()
    assert end == {"status": "completed", "completion_code": "DONE-1",
                   "redirect_url": "https://example.org/done?cc=DONE-1", "redirect_after_ms": 3000}


def test_progress_counts_responses_per_participant_and_planned_trial(client, experiment):
    complete(client, "A")
    client.post("/api/session", json={"participant_id": "B"})
    p = experiment.progress()
    assert [(x["external_id"], x["n_responses"], x["n_trials"]) for x in p["participants"]] == \
        [("A", 6, 6), ("B", 0, 6)]
    mains = {r[0] for r in experiment.store.read(
        "SELECT planned_id FROM assignments WHERE participant = 1 AND kind = 'main'")}
    assert {x["id"]: x["responses"] for x in p["planned"]} == {i: int(i in mains) for i in range(8)}
    assert all(x["assigned"] == 1 for x in p["planned"])
    assert len(p["response_times"]) == 6
    page = client.get("/admin?token=test-token-0123456789").text
    assert "6 responses stored" in page and "0 of 8" in page


def test_max_participants_refuses_newcomers_only(tmp_path):
    exp = Experiment.open(make_config(max_participants=1), tmp_path / "e.sqlite")
    with TestClient(create_app(exp)) as c:
        assert c.post("/api/session", json={"participant_id": "A"}).status_code == 200
        full = c.post("/api/session", json={"participant_id": "B"})
        assert full.status_code == 409 and "all the participants" in full.json()["error"]
        assert c.post("/api/session", json={"participant_id": "A"}).status_code == 200
    assert n_rows(exp, "participants") == 1
    exp.store.close()


def _main_trials(exp: Experiment, participant: int) -> set[int]:
    return {r[0] for r in exp.store.read(
        "SELECT planned_id FROM assignments WHERE participant = ? AND kind = 'main'",
        (participant,))}


def _age(exp: Experiment, participant: int, minutes: float) -> None:
    """Move a participant's start and answers back in time."""
    def work(conn):
        conn.execute("UPDATE participants SET created_at = created_at - ? WHERE id = ?",
                     (60.0 * minutes, participant))
        conn.execute("UPDATE responses SET received_at = received_at - ? WHERE participant = ?",
                     (60.0 * minutes, participant))
    exp.store.write(work)


def _left_experiment(tmp_path):
    """8 planned trials, 4 per participant, 1 participant per trial, no catches."""
    cfg = make_config(design={"trials_per_participant": 4, "planned_trials": 8,
                              "participants_per_trial": 1, "abandoned_after_minutes": 30},
                      catch={"repeats": 0, "known": 0})
    return Experiment.open(cfg, tmp_path / "e.sqlite")


def test_trials_of_a_participant_who_left_go_to_the_next_ones(tmp_path):
    """A starts and leaves. 20 minutes later A still holds her 4 trials: B gets the other 4.
    After 40 minutes without news from A (abandoned_after_minutes = 30), C gets A's 4 trials,
    not B's; every assignment stays recorded."""
    exp = _left_experiment(tmp_path)
    with TestClient(create_app(exp)) as c:
        c.post("/api/session", json={"participant_id": "A"})
        _age(exp, 1, 20)
        c.post("/api/session", json={"participant_id": "B"})
        a, b = _main_trials(exp, 1), _main_trials(exp, 2)
        assert a.isdisjoint(b) and len(a | b) == 8
        assert "about 0 more participant(s) needed" in c.get(
            "/admin?token=test-token-0123456789").text
        _age(exp, 1, 20)
        held = {p["id"]: p["held"] for p in exp.progress()["planned"]}
        assert held == {i: int(i in b) for i in range(8)}
        assert "about 1 more participant(s) needed" in c.get(
            "/admin?token=test-token-0123456789").text
        c.post("/api/session", json={"participant_id": "C"})
        assert _main_trials(exp, 3) == a
        # A comes back: her session and answers are still hers
        back = c.post("/api/session", json={"participant_id": "A"}).json()
        assert back["status"] == "active" and back["n_trials"] == 4
        assert c.post("/api/response", json=response_body("A", back["trials"][0],
                                                          {"choice": 0})).json()["ack"]
    assert sorted(r[0] for r in exp.store.read("SELECT n_assigned FROM planned_trials")) == \
        [1] * 4 + [2] * 4
    exp.store.close()


def test_answered_trials_of_a_participant_who_left_still_count(tmp_path):
    """A answers one trial and leaves; after the window, C gets A's 3 unanswered trials first."""
    exp = _left_experiment(tmp_path)
    with TestClient(create_app(exp)) as c:
        a = c.post("/api/session", json={"participant_id": "A"}).json()
        assert c.post("/api/response", json=response_body("A", a["trials"][0],
                                                          {"choice": 0})).json()["ack"]
        c.post("/api/session", json={"participant_id": "B"})
        answered = {r[0] for r in exp.store.read(
            "SELECT planned_id FROM assignments WHERE participant = 1 AND trial_index = ?",
            (a["trials"][0]["trial_index"],))}
        unanswered = _main_trials(exp, 1) - answered
        _age(exp, 1, 40)
        c.post("/api/session", json={"participant_id": "C"})
    assert len(unanswered) == 3 and unanswered <= _main_trials(exp, 3)
    exp.store.close()


def test_abandoned_after_minutes_must_be_positive(tmp_path):
    from repalign.errors import ConfigError

    with pytest.raises(ConfigError, match="abandoned_after_minutes"):
        Experiment.open(make_config(design={"abandoned_after_minutes": 0}), tmp_path / "e.sqlite")
