"""Job cards (views.jobs) drawn alone with AppTest: what a finished or queued job's card says."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def cancelled_card() -> None:
    from goemo_core.jobs.manager import Job
    from views.jobs import job_card

    job = Job(id="c1", kind="train", title="BiGRU (gru) · 3 epochs", config=None, device="cpu", status="cancelled",
              worker_pid=123, started=1.0, finished=9.0,
              result={"status": "cancelled", "run_id": "gru-1", "best_epoch": 2, "test_accuracy": 61.234,
                      "test_macro_f1": 0.5123})
    job_card(job)


def test_a_cancelled_runs_card_shows_the_test_metrics_it_kept(fresh_manager):
    at = AppTest.from_function(cancelled_card, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "tested (below)" in at.warning[0].value
    shown = " ".join(caption.value for caption in at.caption)
    assert "test_accuracy: 61.234" in shown and "test_macro_f1: 0.512" in shown and "best_epoch: 2" in shown
