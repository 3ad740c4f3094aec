"""Fused experts: dispatch backends agree; gradients reach the gate and the experts."""
import pytest
import torch

from conftest import tiny_config
from models.experts import DispatchUnavailable, FusedExperts, grouped_mm_supported
from models.transformer import Transformer, lm_loss
from routing.options import RoutingOptions


def _random_assignments(n, k, e, drop_rate=0.2):
    """drop_rate None: nothing dropped, passed as dropped=None (the layer's no-capacity case)."""
    idx = torch.stack([torch.randperm(e)[:k] for _ in range(n)])  # (N, K) distinct experts per token
    weights = torch.rand(n, k)
    dropped = None if drop_rate is None else torch.rand(n, k) < drop_rate
    return idx, weights, dropped


def _reference(experts, x, idx, weights, dropped):
    """Token by token, slot by slot: the definition of the MoE output."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for s in range(idx.shape[1]):
            if dropped is None or not dropped[t, s]:
                e = idx[t, s]
                h = torch.nn.functional.silu(experts.w_gate[e] @ x[t]) * (experts.w_up[e] @ x[t])  # (F,)
                out[t] += weights[t, s] * (experts.w_down[e] @ h)
    return out


@pytest.mark.parametrize("drop_rate", [0.2, None])
@pytest.mark.parametrize("n,k,e", [(37, 2, 8), (5, 1, 4), (64, 3, 6), (1, 2, 16), (1, 1, 1), (600, 2, 4)])  # 600: ~300 rows per expert
def test_backends_agree_with_the_definition(n, k, e, drop_rate):
    experts = FusedExperts(e, 24, 40)
    x = torch.randn(n, 24)
    idx, weights, dropped = _random_assignments(n, k, e, drop_rate)
    with torch.no_grad():
        ref = _reference(experts, x, idx, weights, dropped)
        for backend in ("loop", "sorted", "grouped", "auto"):
            torch.testing.assert_close(experts(x, idx, weights, dropped, backend), ref, atol=1e-5, rtol=1e-5)


def test_grouped_backend_raises_where_grouped_mm_cannot_run_never_falls_back():
    experts = FusedExperts(4, 16, 24)  # parameters need gradients: torch 2.13 has no CPU grouped_mm backward
    x = torch.randn(6, 16)
    idx, weights, _ = _random_assignments(6, 2, 4, None)
    if grouped_mm_supported(x, experts.w_gate, experts.w_down):
        pytest.skip("this torch runs grouped_mm with gradients here")
    with pytest.raises(DispatchUnavailable, match="use dispatch 'sorted'"):
        experts(x, idx, weights, None, "grouped")
    with pytest.raises(ValueError, match="dispatch must be one of"):
        experts(x, idx, weights, None, "gather")


def test_grouped_backend_uses_grouped_mm_for_inference_when_torch_has_it():
    experts = FusedExperts(4, 32, 64)
    with torch.no_grad():
        supported = grouped_mm_supported(torch.zeros(3, 32), experts.w_gate, experts.w_down)
    assert supported == hasattr(torch.nn.functional, "grouped_mm")  # CPU forward exists in torch 2.13


@pytest.mark.parametrize("n,drop_rate", [(30, 0.2), (1, None)])  # (1, None): the single-token path
def test_backend_gradients_agree(n, drop_rate):
    experts = FusedExperts(4, 16, 24)
    x = torch.randn(n, 16)
    idx, weights, dropped = _random_assignments(n, 2, 4, drop_rate)
    grads = {}
    backends = ["loop", "sorted"] + (["grouped"] if grouped_mm_supported(x, experts.w_gate, experts.w_down) else [])
    for backend in backends:
        experts.zero_grad()
        w = weights.clone().requires_grad_(True)
        experts(x, idx, w, dropped, backend).pow(2).sum().backward()
        grads[backend] = (w.grad.clone(), experts.w_up.grad.clone())
    for backend in backends[1:]:
        for a, b in zip(grads[backend], grads["loop"]):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_tiny_moe_trains_and_gradients_reach_gate_and_experts():
    model = Transformer(tiny_config(ffn_kind="moe", aux_loss_weight=0.01, z_loss_weight=0.001))
    ids = torch.randint(0, 97, (4, 33))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step in range(40):
        out = model(ids[:, :-1], RoutingOptions(dispatch="auto"))
        loss = lm_loss(out.logits, ids[:, 1:])
        total = loss + 0.01 * out.aux_loss + 0.001 * out.z_loss
        opt.zero_grad()
        total.backward()
        if step == 0:
            layer = model.moe_layers()[0]
            assert layer.router.gate.weight.grad.abs().sum() > 0
            assert layer.experts.w_down.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bf16_products_may_run_widened_and_agree_to_bf16_rounding():
    """A bf16 weight's product competes with its float32 form (chosen by timing on the machine); every form gives
    x w^T to bf16 rounding, and the weights stay bf16."""
    from models import products
    w = torch.randn(96, 64).bfloat16()
    for rows in (1, 8, 200, 3000):
        x = torch.randn(rows, 64).bfloat16()
        exact = x.float() @ w.float().t()
        with torch.no_grad():
            for name in ("x-wT", "upcast"):
                torch.testing.assert_close(products.FORMS[name](x, w).float(), exact, rtol=2e-2, atol=2e-2)
            got = products.linear(x, w)
            assert got.dtype == torch.bfloat16 and w.dtype == torch.bfloat16
            torch.testing.assert_close(got.float(), exact, rtol=2e-2, atol=2e-2)
            torch.testing.assert_close(products.row_major_linear(x, w).float(), exact, rtol=2e-2, atol=2e-2)
    assert "upcast" in products._candidates(products.MULTI_ROW_FORMS, w)
    assert "upcast" not in products._candidates(products.MULTI_ROW_FORMS, w.float())  # float32 weights: nothing to widen
    assert products.row_major_form(w.float(), 4096) == "x-wT"


def test_upcast_widens_into_reused_buffers_that_calls_in_flight_never_share():
    from concurrent.futures import ThreadPoolExecutor
    from models import products
    generator = torch.Generator().manual_seed(0)
    weights = [torch.randn(f, d, generator=generator).bfloat16() for f, d in ((8, 16), (64, 96), (8, 16), (32, 8))]
    inputs = [torch.randn(5, w.shape[1], generator=generator).bfloat16() for w in weights]
    expected = [torch.nn.functional.linear(x.float(), w.float()).bfloat16() for x, w in zip(inputs, weights)]

    def products_agree(_) -> bool:
        return all(torch.equal(products.upcast(x, w), y) for _ in range(30) for x, w, y in zip(inputs, weights, expected))
    products._WIDE.clear()
    assert products_agree(None) and len(products._WIDE) == 1  # one call at a time: one buffer, grown to the largest weight
    assert products._WIDE[0].numel() == 64 * 96
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(products_agree, range(8)))
    assert 1 <= len(products._WIDE) <= 4


def test_auto_dispatch_on_a_cpu_is_measured_once_per_shape_and_gives_the_same_numbers():
    from models import experts
    e, f, d, n, k = 8, 16, 32, 40, 2
    w_gate, w_up, w_down = torch.randn(e, f, d), torch.randn(e, f, d), torch.randn(e, d, f)
    x = torch.randn(n, d)
    idx = torch.stack([torch.randperm(e)[:k] for _ in range(n)])
    gates = torch.rand(n, k)
    with torch.no_grad():
        auto = experts.run_experts(x, w_gate, w_up, w_down, idx, gates, None, "auto")
        reference = experts.loop_dispatch(x, w_gate, w_up, w_down, idx, gates, None)
    torch.testing.assert_close(auto, reference, rtol=1e-5, atol=1e-5)
    keys = [key for key in experts._MEASURED if key[0] == (e, f, d)]
    assert len(keys) == 1 and experts._MEASURED[keys[0]] in ("sorted", "grouped")
    with torch.no_grad():  # the same shape again: no new measurement
        experts.run_experts(x, w_gate, w_up, w_down, idx, gates, None, "auto")
    assert [key for key in experts._MEASURED if key[0] == (e, f, d)] == keys
    collapsed = torch.tensor([[0, 1]] * n)  # every token on the same two experts: another load, measured on its own
    with torch.no_grad():
        auto = experts.run_experts(x, w_gate, w_up, w_down, collapsed, gates, None, "auto")
    torch.testing.assert_close(auto, experts.loop_dispatch(x, w_gate, w_up, w_down, collapsed, gates, None), rtol=1e-5, atol=1e-5)
    assert len([key for key in experts._MEASURED if key[0] == (e, f, d)]) == 2
    assert experts.resolve_backend("auto", x, w_gate, w_down) == "sorted"  # with gradients (training): the fixed rule
