"""A run stopped part-way goes on from its last finished epoch and ends exactly where an unbroken run ends."""

import threading

import pytest
import torch

from goemo_core.runs.store import RunStore
from goemo_core.training.checkpoint import CHECKPOINT_FILE, load_checkpoint
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run
from goemo_core.training.trainer import Trainer

from test_train import TINY, tiny_model, toy_split

MEASURED = ("seconds", "examples_per_s")  # wall-clock figures: the only fields allowed to differ


def same_learning(history):
    return [{k: v for k, v in record.items() if k not in MEASURED} for record in history]


@pytest.mark.parametrize("recipe", [{}, {"scheduler": "plateau", "ema_decay": 0.9, "dropout": 0.3},
                                    {"arch": "lstm", "scheduler": "multistep", "milestones": [2]}])
def test_a_resumed_fit_repeats_the_unbroken_one_exactly(recipe):
    recipe = dict(recipe)
    arch = recipe.pop("arch", "gru")
    settings = {"epochs": 4, "batch_size": 16, "patience": 10, **recipe}
    config, model = tiny_model(arch, **settings)
    unbroken = Trainer(model, config, "cpu")
    expected = unbroken.fit(toy_split(160), toy_split(seed=1))
    expected_weights = {k: v.clone() for k, v in unbroken.model.state_dict().items()}

    config, model = tiny_model(arch, **settings)
    states, cancel = [], threading.Event()

    def keep(state):
        states.append(state)
        if state["epoch"] == 2:
            cancel.set()  # the stop comes inside epoch 3: its batches are lost, epoch 2's state is kept

    from goemo_core.errors import Cancelled

    with pytest.raises(Cancelled):
        Trainer(model, config, "cpu").fit(toy_split(160), toy_split(seed=1), on_checkpoint=keep, cancel=cancel)
    assert [s["epoch"] for s in states] == [1, 2]

    torch.manual_seed(999)  # a new process: other random states until the checkpoint restores them
    config, model = tiny_model(arch, **settings)
    resumed = Trainer(model, config, "cpu")
    history = resumed.fit(toy_split(160), toy_split(seed=1), resume=states[-1])
    assert same_learning(history) == same_learning(expected) and len(history) == 4
    assert resumed.best_epoch == unbroken.best_epoch
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, expected_weights[name]), name


def test_a_stopped_run_resumes_in_its_own_folder_and_ends_as_the_unbroken_run():
    config = make_config("gru", dict(TINY, epochs=3, dropout=0.2))
    unbroken = train_run(config)
    cancel = threading.Event()
    stopped = train_run(config, on_epoch=lambda record: cancel.set(), cancel=cancel)
    run = stopped.run
    assert run.status == "cancelled" and len(run.history) == 1 and (run.path / CHECKPOINT_FILE).is_file()

    result = train_run(config, resume=RunStore().get(run.run_id))
    assert result.run.run_id == run.run_id and result.status == "completed"
    assert len(RunStore().list()) == 2  # no new folder
    assert same_learning(result.run.history) == same_learning(unbroken.run.history)
    assert result.metrics["accuracy"] == unbroken.metrics["accuracy"]
    assert result.metrics["macro_f1"] == unbroken.metrics["macro_f1"]
    assert not (run.path / CHECKPOINT_FILE).exists()  # complete: the checkpoint's space is given back
    assert RunStore().get(run.run_id).info["epochs_run"] == 3


def test_a_run_without_a_usable_checkpoint_is_refused_clearly():
    from goemo_core.errors import MissingResource

    config = make_config("gru", dict(TINY, epochs=2))
    run = train_run(config).run
    with pytest.raises(MissingResource, match="no checkpoint"):
        train_run(config, resume=run)
    (run.path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    assert load_checkpoint(run) is None


def test_bench_accuracy_resumes_a_stopped_run_instead_of_starting_again():
    from goemo_core.bench.accuracy import bench_accuracy

    config = make_config("gru", {"seed": 211, "limit": 120, "epochs": 2})
    cancel = threading.Event()
    stopped = train_run(config, on_epoch=lambda record: cancel.set(), cancel=cancel).run
    messages = []
    document = bench_accuracy(["gru"], seeds=1, limit=120, epochs=2, log=messages.append)
    assert any(f"resuming stopped run {stopped.run_id}" in m for m in messages)
    assert document["rows"][0]["runs"] == [stopped.run_id] and len(RunStore().list()) == 1
    assert RunStore().get(stopped.run_id).status == "completed"
    assert len(RunStore().get(stopped.run_id).history) == 2


def test_a_run_a_stopped_server_left_running_is_resumable_once_its_owner_is_gone():
    from goemo_core.training.checkpoint import resumable_runs

    config = make_config("gru", dict(TINY, epochs=3))
    cancel = threading.Event()
    run = train_run(config, on_epoch=lambda record: cancel.set(), cancel=cancel).run
    store = RunStore()
    run.set_status("running")  # as a process killed outright leaves it
    run.write_json("owner.json", {"pid": 2**22 + 7, "host": run.owner["host"], "started": 1})
    assert [r.run_id for r in resumable_runs(store)] == [run.run_id]
    assert store.mark_interrupted() == [run.run_id]  # what a server does when it starts
    assert [r.run_id for r in resumable_runs(store)] == [run.run_id]
    (run.path / CHECKPOINT_FILE).unlink()
    assert resumable_runs(store) == []
