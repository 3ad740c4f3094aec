"""Training across sessions and processes: a resumed run equals an uninterrupted one bit for bit, and two
gloo ranks under torchrun follow the single-process loss curve with the same global batch."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from benchmarks.server import free_port
from conftest import tiny_config
from paths import ROOT
from training.resume import has_state
from models.checkpoint import load_checkpoint
from training.train import TrainConfig, run, train_model, training_steps

STREAM = torch.randint(0, 97, (40,)).repeat(60)


@pytest.mark.parametrize("router", ["noisy", "bias"])  # learned noise draws from torch's RNG; bias moves outside the gradient
def test_a_resumed_run_ends_with_the_same_weights(router, tmp_path):
    cfg = tiny_config(ffn_kind="moe", router=router, aux_loss_weight=0.01, context_length=16)
    tc = TrainConfig(steps=10, batch_size=4, warmup_steps=2, seed=5)
    straight, rows = train_model(cfg, tc, STREAM, progress=False)
    state = tmp_path / "resume"
    interrupted = training_steps(cfg, tc, STREAM, state, checkpoint_every=3)
    for _ in range(7):  # stop after step 7; the last state saved is after step 6
        next(interrupted)
    interrupted.close()
    assert has_state(state) and json.loads((state / "state.json").read_text())["next_step"] == 6
    resumed, resumed_rows = train_model(cfg, tc, STREAM, progress=False, state_dir=state, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [r["loss"] for r in resumed_rows] == [r["loss"] for r in rows]


def test_a_fresh_run_saves_states_as_it_goes_ignores_an_old_one_and_removes_it_when_written(tmp_path):
    cfg = tiny_config(context_length=16)
    tc = TrainConfig(steps=8, batch_size=4, warmup_steps=2, seed=5)
    straight, _ = train_model(cfg, tc, STREAM, progress=False)
    stale = training_steps(cfg, TrainConfig(steps=8, batch_size=4, warmup_steps=2, seed=6), STREAM, tmp_path / "resume", 3)
    for _ in range(4):  # leaves an unrelated state behind
        next(stale)
    stale.close()
    run(cfg, tc, tmp_path, (STREAM, {"phrase": STREAM[:200]}), checkpoint=True, checkpoint_every=3)  # no --resume
    assert not (tmp_path / "resume").exists()
    loaded = load_checkpoint(tmp_path)
    for (name, a), b in zip(straight.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.half().float(), b), name  # trained from scratch, not from the stale state


@pytest.mark.slow
@pytest.mark.parametrize("moe", [False, True])
def test_two_gloo_ranks_follow_the_single_process_loss_curve(tmp_path, moe):
    train = tmp_path / "train"
    train.mkdir()
    (train / "text.txt").write_text("the cat sat on the mat. " * 400 + "def f(x):\n    return x\n" * 200)
    config = tmp_path / "tiny.json"
    changes = dict(ffn_kind="moe", z_loss_weight=0.001) if moe else {}  # no aux loss: it is computed per rank
    config.write_text(json.dumps(tiny_config(vocab_size=4096, context_length=32, **changes).to_dict()))
    common = ["-m", "training.train", "--config", str(config), "--steps", "6", "--batch-size", "8", "--train-dir", str(train),
              "--eval-dir", str(train), "--threads", "1", "--checkpoint-every", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, *common, "--out", str(tmp_path / "single")], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
                    *common, "--out", str(tmp_path / "ranks")], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    def losses(name: str) -> list[float]:
        with open(tmp_path / name / "train_log.csv") as f:
            return [float(r["loss"]) for r in csv.DictReader(f)]

    assert len(losses("ranks")) == 6
    assert losses("ranks") == pytest.approx(losses("single"), rel=1e-4)
