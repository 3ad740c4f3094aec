"""Expert parallelism: the layer sharded over 2 gloo ranks equals the single-process MoELayer on the zoo's
trained weights and routing; the bytes measured equal the closed form; placements and routings do what
they say."""
from __future__ import annotations

import math

import pytest
import torch

from lab.expert_parallel import (Job, Scenario, balanced_routing, expert_load, greedy_placement,
                                 hottest_replicated, measure, rank_loads, rank_slices, sampled_routing, traffic, zoo_routing)
from lab.variants import LabScale
from models.expert_parallel import Placement, destinations
from models.zoo import load_member
from paths import EVAL_DIR
from routing.capacity import capacity_dropped
from routing.options import RoutingOptions


def held_out_sequences(member, tokens: int = 96) -> list[torch.Tensor]:
    """Rank 0 reads English, rank 1 Python (held-out text, the model's own tokenizer)."""
    return [torch.tensor(member.tokenizer.encode((EVAL_DIR / f"{d}.txt").read_text()[:4000]).ids[:tokens])
            for d in ("english", "python")]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["moe-4", "moe-8", "moe-32"])
def test_two_ranks_equal_one_process(name):
    member = load_member(name)
    model, layer = member.model, 1
    x, idx, gates = zoo_routing(model, held_out_sequences(member), layer)
    cfg = model.cfg
    scale = LabScale(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.top_k)
    # the timed part on the same job: the zoo's routing under the default placement
    scenario = Scenario("zoo", idx, gates, Placement.contiguous(cfg.n_experts, 2))
    report, outputs = measure(Job(scale, {"zoo": name, "layer": layer}, x, [scenario], repeats=2, warmup=1,
                                  check=[None, 1.0, 0.5]))
    moe = model.blocks[layer].ffn
    with torch.no_grad():
        for capacity in (None, 1.0, 0.5):
            expected = moe(x[None], RoutingOptions(capacity_factor=capacity), None, False)[0][0]
            got = outputs[f"capacity={capacity}"]
            assert got.shape == expected.shape
            # 1e-6 of the output's scale: float32 rounding only (each rank runs one thread, this process may run two,
            # and the matmul kernels' blocking, hence the order of the sums, follows the thread count)
            assert (got - expected).abs().max() <= 1e-6 * expected.abs().max(), (name, capacity)
        # a capacity limit changes the output (else the check above would not test it)
        assert (outputs["capacity=0.5"] - outputs["capacity=None"]).abs().max() > 1e-3
    # measured rows and bytes equal the closed form: rows leaving a rank x D x 4 bytes (float32)
    s = report["scenarios"][0]
    for r, rank in enumerate(s["ranks"]):
        for key in ("rows_computed", "rows_sent", "bytes_sent"):
            assert rank[key] == s["closed_form"][key][r]
        assert rank["bytes_sent"] == rank["rows_sent"] * cfg.d_model * 4
    assert sum(s["closed_form"]["rows_computed"]) == idx.numel()
    assert 0 < s["step"]["median_ms"] and report["n_ranks"] == 2


def test_closed_form_traffic_by_hand():
    # 4 tokens, 2 ranks (tokens 0-1 on rank 0), experts 0-1 on rank 0 and 2-3 on rank 1
    idx = torch.tensor([[0, 2], [1, 3], [2, 3], [0, 1]])
    s = Scenario("hand", idx, torch.full((4, 2), 0.5), Placement.contiguous(4, 2))
    t = traffic(s, bytes_per_row=128 * 4)
    assert t["rows_computed"] == [4, 4]
    assert t["rows_sent"] == [2, 2]  # rank 0 sends (0->2), (1->3); rank 1 sends (3->0), (3->1)
    assert t["bytes_sent"] == [2 * 512, 2 * 512]
    dropped = torch.tensor([[False, True], [False, False], [False, False], [True, False]])
    t = traffic(Scenario("cap", idx, torch.full((4, 2), 0.5), s.placement, dropped), 512)
    assert t["rows_computed"] == [3, 3] and t["rows_sent"] == [1, 1]


def test_replicated_expert_splits_its_assignments_evenly():
    placement = Placement.contiguous(4, 2).replicated(0, 1)
    assert placement.copies(0) == [0, 1] and placement.ranks == ((0, 1), (2, 3, 0))
    idx = torch.zeros(6, 1, dtype=torch.long)  # six tokens, all on expert 0
    dest = destinations(idx, torch.ones_like(idx, dtype=torch.bool), placement)
    assert dest.squeeze(1).tolist() == [0, 0, 0, 1, 1, 1]
    assert rank_loads(placement, [6, 0, 0, 0]) == [3.0, 3.0]


def test_placement_rejects_a_missing_expert():
    with pytest.raises(ValueError):
        Placement(((0, 1), (3,)))


def test_greedy_placement_balances_and_keeps_expert_counts():
    load = [50, 40, 5, 5, 30, 2, 2, 2]  # default: rank 0 holds 100, rank 1 36
    placement = greedy_placement(load, 2)
    assert [len(r) for r in placement.ranks] == [4, 4]
    loads = rank_loads(placement, load)
    assert max(loads) < max(rank_loads(Placement.contiguous(8, 2), load))
    assert max(loads) - min(loads) <= max(load)  # the LPT bound
    assert sorted(e for r in placement.ranks for e in r) == list(range(8))


def test_hottest_expert_copied_to_the_least_loaded_rank():
    placement, hot, rank = hottest_replicated(Placement.contiguous(8, 2), [50, 40, 5, 5, 30, 2, 2, 2])
    assert (hot, rank) == (0, 1) and placement.copies(0) == [0, 1]


def test_balanced_routing_gives_every_expert_the_same_load():
    idx, gates = balanced_routing(64, 2, 8)
    load = expert_load(Scenario("b", idx, gates, Placement.contiguous(8, 2)))
    assert load == [16] * 8
    assert all(len(set(row)) == 2 for row in idx.tolist())
    assert torch.allclose(gates.sum(-1), torch.ones(64))


def test_sampled_routing_follows_the_recorded_shares():
    shares = [0.56, 0.16, 0.03, 0.12, 0.0, 0.11, 0.01, 0.01]
    idx, gates = sampled_routing(shares, 4000, 1, seed=0)
    observed = torch.bincount(idx.squeeze(1), minlength=8).float() / 4000
    assert torch.allclose(observed, torch.tensor(shares), atol=0.03)
    idx2, _ = sampled_routing(shares, 100, 2, seed=0)
    assert all(len(set(row)) == 2 for row in idx2.tolist())  # K distinct experts per token


def test_capacity_drops_follow_the_formula():
    idx = torch.zeros(10, 1, dtype=torch.long)  # every token on expert 0 of 2
    dropped = capacity_dropped(idx, 1.0, 2)
    assert int((~dropped).sum()) == math.ceil(1.0 * 10 * 1 / 2)


def test_rank_slices_cover_the_tokens():
    assert rank_slices(7, 2) == [slice(0, 4), slice(4, 7)] or rank_slices(7, 2) == [slice(0, 3), slice(3, 7)]
    assert sum(s.stop - s.start for s in rank_slices(7, 3)) == 7


# --- the page: the backend on the user's text, the views, bad input ----------------------------------------------

def fake_report() -> dict:
    """A report shaped as lab/expert_parallel.measure's, with known numbers."""
    def scenario(name, fix, placement, rows, steps, dropped=0, capacity=None, replica=None):
        return {"name": name, "fix": fix, "replica": replica, "straggler": 0, "placement": placement,
                "capacity_factor": capacity, "assignments": 100, "dropped": dropped, "expert_load": [],
                "busiest_rank": rows.index(max(rows)),
                "busiest_share": max(rows) / sum(rows), "measured_equals_closed_form": True,
                "closed_form": {"rows_computed": rows, "rows_sent": [10, 10], "bytes_sent": [40960, 40960]},
                "ranks": [{"dispatch": 1.0, "compute": c, "combine": 9.0 - c, "step": 10.0} for c in (8.0, 2.0)],
                "step": {"median_ms": steps, "q25_ms": steps - 1, "q75_ms": steps + 1}}
    return {"scale": {"d_model": 4096, "d_expert": 1024, "n_experts": 4, "top_k": 2, "dtype": "float32"}, "n_ranks": 2,
            "n_tokens": 50, "repeats": 5, "warmup": 1, "threads_per_rank": 1, "backend": "gloo",
            "reliability": {"reliable": True, "reasons": [], "competing_cores": 0.0, "cores": 2, "worst_spread": 0.1,
                            "seconds": 1.0, "calibration_drift": 0.0},
            "scenarios": [scenario("your text", "", [[0, 1], [2, 3]], [80, 20], 20.0),
                          scenario("your text", "greedy", [[0, 3], [1, 2]], [50, 50], 12.0),
                          scenario("your text", "replicated", [[0, 1], [2, 3, 0]], [60, 40], 24.0, replica=[0, 1]),
                          scenario("your text", "capacity", [[0, 1], [2, 3]], [50, 20], 11.0, 30, 1.0)]}


def test_views_name_the_straggler_and_the_fixes_in_both_languages():
    from text import reading
    from viz.expert_parallel_views import phases_figure, placement_table, rows_figure, scenario_label, text_summary

    run = fake_report()
    summary = text_summary(run)
    assert "rank 0 (experts 0, 1) computes 80 of 100 rows (80%) in 8.0 ms: it is the straggler" in summary
    assert "copying expert 0 to rank 1 makes the step 24.0 ms (IQR 23.0-25.0) (1.20x the time as routed)" in summary
    # the copy cost time: 25 rows per expert, each expert's 3 x 4096 x 1024 float32 weights are 50 MB to read
    assert "with 25 rows per expert on average, an expert's time is mostly reading its 50 MB of weights" in summary
    assert "a placement balanced by this load, 12.0 ms (IQR 11.0-13.0) (0.60x)" in summary
    assert "drops 30 of 100 assignments" in summary
    assert [scenario_label(s) for s in run["scenarios"]][1:] == [
        "your text: placement balanced by this load", "your text: expert 0 copied to rank 1", "your text: capacity factor 1"]
    assert len(phases_figure(run).data) == 3 and list(phases_figure(run).data[1].y) == [8.0, 2.0] * 4
    assert list(rows_figure(run).data[0].y) == [80, 50, 60, 50]
    table = placement_table(run)
    assert table.iloc[2]["rank 1: experts"] == "2, 3, 0" and table.iloc[3]["dropped assignments"] == 30
    with reading("ru"):
        assert "отстающий" in text_summary(run) and "ранг 0" in text_summary(run)
        assert scenario_label(run["scenarios"][1]) == "ваш текст: размещение, выровненное по этой нагрузке"


def test_device_findings_come_from_the_shipped_run():
    from lab.expert_parallel import shipped_run
    from page.problems import findings

    shipped = shipped_run()
    assert shipped is not None, "benchmarks/results/expert_parallel.json is shipped"
    run = shipped["widths"]["realistic"]
    balanced = next(s for s in run["scenarios"] if s["name"] == "balanced")
    collapsed = next(s for s in run["scenarios"] if s["name"] == "collapsed" and not s["fix"])
    text = findings()
    assert "Experts on different devices" in text
    assert f"{balanced['step']['median_ms']:.1f} ms" in text and f"{collapsed['step']['median_ms']:.1f} ms" in text
    assert f"{collapsed['step']['median_ms'] / balanced['step']['median_ms']:.2f}x the balanced step" in text
    assert all(s["measured_equals_closed_form"] for w in shipped["widths"].values() for s in w["scenarios"])


@pytest.mark.parametrize("args,message", [
    (("text here please", "moe-99", 1, "zoo"), "model must be one of moe-4, moe-8, moe-16, moe-32"),
    (("text here please", "moe-8", 7, "zoo"), "layer must be an integer between 0 and 3"),
    (("text here please", "moe-8", 1, "huge"), "width must be one of zoo, realistic"),
    (("   ", "moe-8", 1, "zoo"), "Paste some text"),
    (("hi", "moe-8", 1, "zoo"), "needs at least 4"),
])
def test_page_handler_bad_input(args, message):
    import gradio as gr

    from page.problems import on_devices
    with pytest.raises(gr.Error, match=message):
        on_devices(*args, progress=lambda *a, **k: None)


@pytest.mark.slow
def test_page_handler_measures_the_users_text():
    from page.problems import on_devices

    text = "def add(a, b):\n    return a + b\n\nПривет, мир! Hello, world."
    summary, phases, rows, table = on_devices(text, "moe-4", 2, "zoo", progress=lambda *a, **k: None)
    assert "it is the straggler" in summary and "Fixes, measured" in summary
    assert len(phases.data) == 3 and "capacity factor 1.25" in table
    assert sum(rows.data[0].y[:1]) + sum(rows.data[1].y[:1]) > 0


@pytest.mark.slow
def test_the_ranks_start_under_torchrun_too(tmp_path):
    """Without the lab's file store a rank joins through torchrun's environment (MASTER_ADDR / MASTER_PORT)."""
    import json
    import os
    import subprocess
    import sys

    from benchmarks.server import free_port
    from lab.expert_parallel import write_job
    from paths import ROOT
    idx, gates = balanced_routing(64, 2, 8)
    write_job(Job(LabScale(128, 256, 8, 2), {"zoo": "moe-8", "layer": 1}, torch.randn(64, 128),
                  [Scenario("balanced", idx, gates, Placement.contiguous(8, 2))], repeats=2, warmup=1), tmp_path)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
                    "-m", "lab.expert_parallel_worker", str(tmp_path)], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    rows = [json.loads((tmp_path / f"rank{r}.json").read_text())["scenarios"][0]["rows_computed"] for r in range(2)]
    assert rows == [64, 64]  # 64 tokens x top-2, balanced over 8 experts on 2 ranks
