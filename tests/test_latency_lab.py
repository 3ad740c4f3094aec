"""Latency lab: variants compute the same function (ours and transformers' Mixtral block), FLOP
accounting, ideals, and the benchmark's target checks."""
import pytest
import torch

from backend.timing import last_level_cache_bytes
from lab.targets import all_hold, decided, targets, verdict_word, with_spread
from errors import UserError
from lab.measure import memory_bandwidth, model_sweep, orientation_sweep, sweep
from lab.roofline import decode_models, ideal_decode_speedup, roofline_decode_speedup, speedup
from lab.run import LabPlan, run
from lab.variants import LabScale, build_variants, call_flops, check_equal, runnable_backends
from models.moe import MoELayer
from models.products import WEIGHT_STATIONARY_MAX_ROWS, linear, row_major_linear
from viz.latency_views import departure_text

SCALE = LabScale(d_model=64, d_expert=96, n_experts=8, top_k=2)


def test_moe_backends_and_transformers_peer_agree():
    variants = build_variants(SCALE)
    pytest.importorskip("transformers")
    assert "hf-mixtral" in variants
    assert check_equal(variants, torch.randn(50, 64)) < 1e-5


def test_dense_twins_have_the_active_and_total_widths():
    variants = build_variants(SCALE, with_peer=False)
    assert variants["dense-active"].w_up.shape == (2 * 96, 64)
    assert variants["dense-total"].w_up.shape == (8 * 96, 64)
    assert call_flops(SCALE, "dense-total", 10) == 10 * 2 * 3 * 64 * 768
    assert call_flops(SCALE, "moe-grouped", 10) == 10 * (2 * 3 * 64 * 192 + 2 * 64 * 8)


def test_ideal_decode_speedup_limits():
    assert ideal_decode_speedup(SCALE, 1) == pytest.approx(4.0)  # E/K: one token reads K of E experts
    assert ideal_decode_speedup(SCALE, 1000) == pytest.approx(1.0)
    assert ideal_decode_speedup(SCALE, 4) == pytest.approx(8 / (8 * (1 - (6 / 8) ** 4)))


def test_sweeps_measure_every_variant_and_size():
    rows = list(sweep(SCALE, "decode", [1, 4], repeats=2, warmup=1, with_peer=False))
    assert {(m.variant, m.tokens) for m in rows} == {(v, n) for v in build_variants(SCALE, with_peer=False) for n in (1, 4)}
    for m in rows:  # FLOPs from the accounting, the rate from FLOPs and the median time
        assert m.flops == call_flops(SCALE, m.variant, m.tokens)
        assert m.gflop_per_s == pytest.approx(m.flops / (m.median_ms / 1e3) / 1e9)
    models = list(model_sweep(SCALE, 1, "decode", [2], repeats=2))
    assert {m.variant for m in models} == {"dense-active", "dense-total", "moe"}


def test_targets_are_judged_from_the_rows():
    def row(phase, n, variant, ms, gflops=1.0):
        return {"phase": phase, "tokens": n, "variant": variant, "median_ms": ms, "q25_ms": 0.9 * ms, "q75_ms": 1.1 * ms,
                "gflop_per_s": gflops}

    rows = [row("prefill", 4096, "moe-grouped", 1.0, 90.0), row("prefill", 4096, "hf-mixtral", 1.5),
            row("prefill", 1, "moe-sorted", 1.0), row("prefill", 1, "hf-mixtral", 0.9),
            row("decode", 1, "dense-total", 4.0), row("decode", 1, "moe-sorted", 1.0)]
    decode = decode_models(rows, SCALE, bandwidth=10e9, ceiling=100e9)
    judged = targets(rows, decode, SCALE, ceiling=100e9)
    result = {t["target"][:20]: t["holds"] for t in judged}
    assert judged[0]["measured"] == "1: 0.90x, 4096: 1.50x"  # rows without repetitions: ratios of medians
    assert result["best MoE backend no "] is False  # slower than the peer at 1 token
    assert result["prefill at 4096 toke"] is True  # 90% of the ceiling
    assert result["batch-1 decode speed"] is True  # 4.0x >= 0.8 * 4
    above = targets(rows, decode, SCALE, ceiling=80e9)  # 90 GFLOP/s against a ceiling of 80: the machine moved
    assert above[1]["holds"] is None and "112.5%" in above[1]["measured"] and "noise" in above[1]["measured"]
    assert [verdict_word(t["holds"]) for t in above] == ["missed", "not decided", "met"]
    short = [r for r in rows if r["tokens"] != 4096]  # a plan without 4096-token prefill does not judge that target
    assert [t["target"][:20] for t in targets(short, decode, SCALE, ceiling=100e9)] == ["best MoE backend no ",
                                                                                       "batch-1 decode speed"]


def test_speedups_pair_the_repetitions_so_a_drifting_machine_cancels_out():
    # the machine halves its speed every other repetition; within a repetition MoE is 4x faster than dense
    dense = {"median_ms": 6.0, "samples_ms": (4.0, 8.0, 4.0, 8.0, 4.0)}
    moe = {"median_ms": 1.0, "samples_ms": (1.0, 2.0, 1.0, 2.0, 1.0)}
    assert speedup(dense, moe) == (pytest.approx(4.0), (pytest.approx(4.0), pytest.approx(4.0)))
    # unpaired, the medians would say 4.0 / 1.0 here, and a spread as wide as the drift
    noisy = {"median_ms": 1.0, "samples_ms": (1.0, 2.0, 1.25, 2.0, 1.0)}  # one repetition 25% slower
    ratio, (q25, q75) = speedup(dense, noisy)
    assert ratio == pytest.approx(4.0) and q25 == pytest.approx(4.0) and q75 == pytest.approx(4.0)
    assert speedup({"median_ms": 3.0}, {"median_ms": 1.5}) == (pytest.approx(2.0), None)  # saved without repetitions
    assert with_spread(3.0, (2.8, 3.3), 3.2) == "3.00x (IQR 2.80-3.30; the goal lies inside it: not decided by this run)"
    assert with_spread(3.5, (3.3, 3.6), 3.2) == "3.50x (IQR 3.30-3.60)"


def test_a_goal_inside_the_interquartile_range_is_not_decided_whatever_the_median_says():
    assert decided(3.35, (3.18, 3.39), 3.2) is None and decided(3.0, (2.8, 3.3), 3.2) is None
    assert decided(3.5, (3.3, 3.6), 3.2) is True and decided(3.1, (3.0, 3.15), 3.2) is False
    assert decided(3.1, None, 3.2) is False  # saved without repetitions: the median decides
    assert all_hold([True, None, True]) is None and all_hold([True, None, False]) is False and all_hold([True]) is True

    def row(phase, n, variant, samples):
        ordered = sorted(samples)
        return {"phase": phase, "tokens": n, "variant": variant, "median_ms": ordered[len(samples) // 2],
                "samples_ms": tuple(samples), "gflop_per_s": 1.0}

    # the peer is faster in 2 of 5 paired repetitions at 1024 tokens: the median 1.1x says met, the IQR does not decide
    rows = [row("prefill", 1024, "moe-sorted", (1.0, 1.0, 1.0, 1.0, 1.0)),
            row("prefill", 1024, "hf-mixtral", (0.9, 0.95, 1.1, 1.2, 1.3)),
            row("decode", 1, "dense-total", (4.0, 4.0, 4.0, 4.0, 4.0)), row("decode", 1, "moe-sorted", (1.0, 1.1, 1.2, 1.3, 1.4))]
    judged = targets(rows, decode_models(rows, SCALE, bandwidth=10e9, ceiling=100e9), SCALE, ceiling=100e9)
    assert [verdict_word(t["holds"]) for t in judged] == ["not decided", "not decided"]  # batch 1: 3.33x, IQR 3.08-3.64


def test_roofline_model_is_memory_bound_for_one_token_and_returns_to_the_flop_ratio():
    bandwidth, ceiling = 20e9, 200e9
    assert roofline_decode_speedup(SCALE, 1, bandwidth, ceiling) == pytest.approx(4.0)  # both read weights: E/K
    # far past the turn both are compute-bound: the FLOP ratio, less the router's few FLOPs
    flop_ratio = call_flops(SCALE, "dense-total", 1) / call_flops(SCALE, "moe", 1)
    assert roofline_decode_speedup(SCALE, 100_000, bandwidth, ceiling) == pytest.approx(flop_ratio)
    # at the dense layer's turn (B = 2 x ceiling / bandwidth = 20) the MoE reads nearly all experts: about 1
    assert roofline_decode_speedup(SCALE, 20, bandwidth, ceiling) == pytest.approx(8 / (8 * (1 - 0.75**20)), rel=1e-6)


def test_decode_models_and_the_departure_text_come_from_the_rows():
    def row(n, variant, ms):
        return {"phase": "decode", "tokens": n, "variant": variant, "median_ms": ms, "gflop_per_s": 1.0}

    rows = [row(1, "dense-total", 4.0), row(1, "moe-sorted", 1.25), row(1, "moe-loop", 2.0), row(1, "dense-active", 1.1),
            row(64, "dense-total", 4.0), row(64, "moe-grouped", 2.0)]
    one, many = decode_models(rows, SCALE, bandwidth=10e9, ceiling=100e9)
    assert one["dense_active"] == pytest.approx(4.0 / 1.1) and many["dense_active"] is None
    assert (one["measured"], one["backend"], one["moe_excess_ms"]) == (pytest.approx(3.2), "moe-sorted", pytest.approx(0.25))
    assert one["dense_gbs"] == pytest.approx(8 * SCALE.expert_bytes / 4e-3 / 1e9)
    assert many["measured"] == pytest.approx(2.0) and many["memory_bound"] == pytest.approx(1.0, abs=1e-6)
    text = departure_text([one, many], rows, SCALE, 10e9, 100e9)
    assert "80% of the memory-bound ideal 4.00x" in text and "0.25 ms longer" in text
    assert "only 3.64x faster than dense-total here" in text and "the MoE reaches 88% of that" in text
    assert "batch 64: 2.00x measured vs 1.00x memory-bound" in text  # a departure of more than 25%


@pytest.mark.parametrize("rows", [1, 2, 37, WEIGHT_STATIONARY_MAX_ROWS + 1])
def test_linear_equals_f_linear_in_every_orientation(rows):
    x, w = torch.randn(rows, 48), torch.randn(80, 48)
    torch.testing.assert_close(linear(x, w), torch.nn.functional.linear(x, w), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rows", [3, WEIGHT_STATIONARY_MAX_ROWS + 1])
def test_row_major_linear_equals_f_linear_and_gives_rows_above_the_weight_stationary_range(rows):
    x, w = torch.randn(rows, 48), torch.randn(80, 48)
    with torch.no_grad():
        result = row_major_linear(x, w)
    torch.testing.assert_close(result, torch.nn.functional.linear(x, w), atol=1e-5, rtol=1e-5)
    assert result.is_contiguous() or rows <= WEIGHT_STATIONARY_MAX_ROWS


def test_machine_measurements_are_plausible():
    assert last_level_cache_bytes(torch.device("cpu")) >= 2**20
    assert 1e9 < memory_bandwidth(repeats=2) < 1e13  # 1 GB/s .. 10 TB/s
    timings = orientation_sweep(SCALE, [1, 8], repeats=2)
    assert [t["rows"] for t in timings] == [1, 8]
    assert all(t[k] > 0 for t in timings for k in ("x_wT_ms", "w_xT_ms", "chosen_ms"))


def test_the_one_run_entry_measures_a_plan_and_reports_progress():
    seen = []
    plan = LabPlan(SCALE, prefill=(4,), decode=(1, 2), repeats=2, warmup=1, ceiling_sizes=(64,), calibration_repeats=1,
                   with_peer=False)
    result = run(plan, lambda fraction, desc: seen.append(fraction))
    assert {(r["phase"], r["tokens"]) for r in result["rows"]} == {("prefill", 4), ("decode", 1), ("decode", 2)}
    assert {r["variant"] for r in result["rows"]} == set(build_variants(SCALE, with_peer=False))
    assert [m["batch"] for m in result["decode_models"]] == [1, 2]
    assert result["max_abs_diff_between_moe_variants"] < 1e-5 and result["orientation"] == []
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert str(torch.__version__) in result["machine"] and "cores" in result["machine"]
    # calibrated before and after the timings: the faster of the two is the ceiling, their gap the drift
    calibration = result["calibration"]
    assert result["ceiling_gflops"] == max(calibration["ceiling_gflops"])
    assert result["bandwidth_gbs"] == max(calibration["bandwidth_gbs"])
    assert result["reliability"]["calibration_drift"] == pytest.approx(max(
        abs(b - a) / max(b, a) for b, a in calibration.values()))


def test_a_backend_that_cannot_run_is_left_out_not_relabelled():
    moe = MoELayer.from_config(SCALE.moe_config(), 0)
    backends = runnable_backends(moe)
    assert backends[:2] == ["loop", "sorted"]
    variants = build_variants(SCALE, with_peer=False)
    assert {n for n in variants if n.startswith("moe-")} == {f"moe-{b}" for b in backends}


@pytest.mark.parametrize("kwargs", [dict(d_model=8), dict(top_k=9), dict(d_model=8192, d_expert=16384, n_experts=64)])
def test_scales_out_of_range_are_refused_with_a_user_message(kwargs):
    with pytest.raises(UserError):
        LabScale(**{"d_model": 64, "d_expert": 96, "n_experts": 8, "top_k": 2} | kwargs)


def test_a_speedup_above_its_ideal_is_explained_and_nothing_is_negatively_longer():
    def row(n, variant, ms):
        return {"phase": "decode", "tokens": n, "variant": variant, "median_ms": ms, "gflop_per_s": 1.0}

    rows = [row(1, "dense-total", 4.0), row(1, "moe-sorted", 0.8)]  # 5.0x against an ideal of 4.0x
    models = decode_models(rows, SCALE, bandwidth=10e9, ceiling=100e9)
    text = departure_text(models, rows, SCALE, 10e9, 100e9)
    assert models[0]["moe_excess_ms"] < 0
    assert "above the ideal" in text and "no gain beyond reading fewer weights" in text and "longer" not in text
    assert f"dense-total streams its weights at {models[0]['dense_gbs']:.0f} GB/s" in text


def test_the_lab_runs_in_bfloat16_with_its_own_ceiling_and_byte_counts():
    scale = LabScale(d_model=64, d_expert=96, n_experts=8, top_k=2, dtype="bfloat16")
    assert scale.expert_bytes == SCALE.expert_bytes // 2
    result = run(LabPlan(scale, prefill=(4,), decode=(1,), repeats=2, warmup=1, ceiling_sizes=(64,),
                         calibration_repeats=1))
    assert result["scale"]["dtype"] == "bfloat16" and result["max_abs_diff_between_moe_variants"] < 0.1
    assert {r["variant"] for r in result["rows"]} >= {"dense-total", "moe-sorted", "hf-mixtral"}
    with pytest.raises(UserError, match="dtype must be one of"):
        LabScale(dtype="float16")


def test_the_one_row_form_is_measured_once_per_shape_and_gives_the_same_numbers():
    from models import products
    w, x = torch.randn(96, 40), torch.randn(1, 40)
    form = products.single_row_form(w)
    assert form in products.SINGLE_ROW_FORMS and products.single_row_form(w.clone()) == form  # cached per shape
    for f in products.FORMS.values():
        torch.testing.assert_close(f(x, w), torch.nn.functional.linear(x, w), atol=1e-5, rtol=1e-5)


def test_a_few_rows_take_the_form_measured_for_their_power_of_two_and_training_keeps_the_fixed_rule(monkeypatch):
    from models import products
    w = torch.randn(96, 40)
    timed = []
    real = products._fastest
    monkeypatch.setattr(products, "_fastest", lambda names, w_, rows: timed.append(rows) or real(names, w_, rows))
    with torch.no_grad():
        for rows in (3, 4, 37, 64, products.CALIBRATED_MAX_ROWS):
            x = torch.randn(rows, 40)
            torch.testing.assert_close(linear(x, w), torch.nn.functional.linear(x, w), atol=1e-5, rtol=1e-5)
    assert timed == [4, 4, 64, 64, products.CALIBRATED_MAX_ROWS]  # buckets: the power of two >= rows
    assert products.multi_row_form(w, 37) in products.MULTI_ROW_FORMS
    timed.clear()
    x = torch.randn(37, 40, requires_grad=True)
    out = linear(x, w)  # with gradients: the fixed rule, nothing timed
    assert timed == [] and out.stride() == products.weight_stationary(x, w).stride()


def test_the_cpu_is_named_with_family_model_and_vector_units_a_virtual_machine_hides(tmp_path):
    from backend.timing import cpu_model

    def info(**fields):
        path = tmp_path / "cpuinfo"
        core = "\n".join(f"{key}\t: {value}" for key, value in fields.items())
        path.write_text(f"processor\t: 0\n{core}\n\nprocessor\t: 1\n{core}\n")
        return path

    assert cpu_model(info(**{"model name": "AMD EPYC", "cpu family": 26, "model": 2, "flags": "fpu avx2 avx512f avx512_bf16"})) \
        == "AMD EPYC (family 26, model 2; AVX-512 with bf16)"
    assert cpu_model(info(**{"model name": "AMD EPYC", "cpu family": 25, "model": 1, "flags": "fpu avx2"})) \
        == "AMD EPYC (family 25, model 1; AVX2)"
    assert cpu_model(info(**{"model name": "Intel(R) Xeon(R) Processor", "flags": "avx512f"})) \
        == "Intel(R) Xeon(R) Processor (AVX-512)"
    assert cpu_model(tmp_path / "missing")  # falls back to what platform reports
