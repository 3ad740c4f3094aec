"""Training loop, schedule, logs, evaluation and checkpoint writing on tiny models (seconds)."""
import csv
import json

import pytest
import torch

from conftest import tiny_config
from models.checkpoint import load_checkpoint
from corpus.streams import WindowSampler, eval_windows
from training.train import TrainConfig, evaluate, learning_rate, train_model, write_run

# a learnable stream: a repeated random phrase
STREAM = torch.randint(0, 97, (40,)).repeat(200)
TC = TrainConfig(steps=40, batch_size=8, lr=1e-2, warmup_steps=5, seed=3)


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [learning_rate(s, TC) for s in range(TC.steps)]
    assert lrs[0] == pytest.approx(TC.lr / 5) and lrs[4] == pytest.approx(TC.lr)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] == pytest.approx(TC.lr * TC.min_lr_ratio, rel=0.02)


def test_sampler_is_reproducible_and_eval_windows_cover_every_token_once():
    a, b = WindowSampler(STREAM, 4, 16, seed=1), WindowSampler(STREAM, 4, 16, seed=1)
    assert torch.equal(a.next_batch(), b.next_batch())
    stream = torch.arange(35)
    windows = eval_windows(stream, 8)  # (4, 9): targets 1..32
    assert windows.shape == (4, 9)
    assert torch.equal(windows[:, 1:].flatten(), torch.arange(1, 33))


@pytest.mark.parametrize("router", ["softmax", "bias"])
def test_tiny_training_lowers_loss_and_logs_routing(router, tmp_path):
    cfg = tiny_config(ffn_kind="moe", router=router, aux_loss_weight=0.01, z_loss_weight=0.001, context_length=32)
    model, rows = train_model(cfg, TC, STREAM, progress=False)
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    for layer in range(cfg.n_layers):
        shares = [rows[-1][f"l{layer}_share_e{e}"] for e in range(cfg.n_experts)]
        assert sum(shares) == pytest.approx(1.0)
        assert 0 <= rows[-1][f"l{layer}_router_entropy"] <= torch.log(torch.tensor(4.0)).item() + 1e-6
    if router == "bias":
        assert model.moe_layers()[0].router.bias.abs().sum() > 0
    evaluation = evaluate(model, {"phrase": STREAM[:500]})
    assert evaluation["overall"]["loss"] < 0.5 * rows[0]["loss"]
    write_run(model, rows, evaluation, TC, tmp_path, seconds=1.0)
    loaded = load_checkpoint(tmp_path)  # fp16 storage, fp32 compute
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.half().float(), b), name
    log = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert len(log) == TC.steps and float(log[0]["loss"]) == pytest.approx(rows[0]["loss"], rel=1e-5)
    info = json.loads((tmp_path / "eval.json").read_text())
    assert info["train"]["tokens_seen"] == TC.steps * TC.batch_size * 32


def test_same_seed_gives_identical_training():
    cfg = tiny_config(context_length=32)
    short = TrainConfig(steps=5, batch_size=4, seed=9)
    a, rows_a = train_model(cfg, short, STREAM, progress=False)
    b, rows_b = train_model(cfg, short, STREAM, progress=False)
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_kneser_ney_distributions_sum_to_one_and_higher_orders_fit_repetition(order):
    from training.ngram import KneserNey

    stream = torch.randint(0, 30, (25,)).repeat(20).tolist()
    model = KneserNey(stream, order, vocab=40)
    for history in [(), (stream[3],), (stream[3], stream[4]), (39, 38)]:
        assert sum(model.prob(history[-(order - 1):] if order > 1 else (), w) for w in range(40)) == pytest.approx(1.0)
    windows = torch.tensor(stream[:101]).reshape(1, -1)
    losses = {o: KneserNey(stream, o, 40).window_loss(windows)[0] for o in (1, 2, 3)}
    assert losses[3] < losses[2] < losses[1]


def test_held_out_curve_is_logged_every_n_steps_and_at_the_end():
    cfg = tiny_config(context_length=32)
    tc = TrainConfig(steps=7, batch_size=4, seed=2)
    streams = {"a": STREAM[:300], "b": STREAM[300:600]}
    _, rows = train_model(cfg, tc, STREAM, progress=False, eval_streams=streams, eval_every=3)
    measured = [r["step"] for r in rows if r["held_out_loss"] == r["held_out_loss"]]  # not NaN
    assert measured == [2, 5, 6]
    _, plain = train_model(cfg, tc, STREAM, progress=False)
    assert [r["loss"] for r in rows] == [r["loss"] for r in plain]  # evaluating never changes training
    model, _ = train_model(cfg, tc, STREAM, progress=False)
    final = evaluate(model, streams)
    assert rows[-1]["held_out_loss"] == pytest.approx(final["overall"]["loss"], rel=1e-6)
    assert rows[-1]["held_out_b"] == pytest.approx(final["b"]["loss"], rel=1e-6)
