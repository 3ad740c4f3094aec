"""Each balancing mechanism does what it claims on a synthetic router problem with skewed inputs."""
import torch

from routing.capacity import capacity_drop_mask
from routing.losses import load_balancing_loss, router_z_loss
from routing.options import RoutingOptions
from routing.routers import BiasBalancedRouter, SoftmaxTopKRouter

OPTS = RoutingOptions()
E, D, N = 8, 16, 512


def skewed_inputs() -> torch.Tensor:
    """Most tokens near one direction that the router maps to expert 0."""
    g = torch.Generator().manual_seed(0)
    centre = torch.zeros(D)
    centre[0] = 3.0
    return centre + 0.5 * torch.randn(N, D, generator=g)


def skewed_router(cls=SoftmaxTopKRouter, **kwargs):
    router = cls(D, E, normalize_topk=True, **kwargs)
    with torch.no_grad():
        router.gate.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
        router.gate.weight[0, 0] = 1.0  # expert 0 wins for most of the skewed inputs
    return router


def load_cv(router, x, k=2) -> float:
    d = router(x, k, OPTS)
    counts = torch.bincount(d.expert_idx.flatten(), minlength=E).float()
    return float(counts.std(unbiased=False) / counts.mean())


def test_aux_loss_lowers_load_cv():
    x = skewed_inputs()
    router = skewed_router()
    before = load_cv(router, x)
    opt = torch.optim.SGD(router.parameters(), lr=0.5)
    for _ in range(200):
        d = router(x, 2, OPTS)
        loss = load_balancing_loss(d.probs, d.expert_idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = load_cv(router, x)
    assert before > 1.0 and after < 0.5 * before
    d = router(x, 2, OPTS)
    assert load_balancing_loss(d.probs, d.expert_idx).item() < 1.2  # near its uniform minimum of 1


def test_bias_balancing_moves_load_toward_uniform_without_gradients():
    x = skewed_inputs()
    router = skewed_router(BiasBalancedRouter, update_rate=0.01)
    gate = router.gate.weight.clone()
    before = load_cv(router, x)
    for _ in range(300):
        with torch.no_grad():
            d = router(x, 2, OPTS)
        router.update_bias(torch.bincount(d.expert_idx.flatten(), minlength=E))
    after = load_cv(router, x)
    assert before > 1.0 and after < 0.35 * before
    assert torch.equal(router.gate.weight, gate)  # only the bias moved
    d = router(x, 2, OPTS)
    assert torch.allclose(d.gate_weights.sum(-1), torch.ones(N))  # weights still from unbiased probabilities


def test_z_loss_shrinks_router_logits():
    x = skewed_inputs()
    router = skewed_router()
    opt = torch.optim.SGD(router.parameters(), lr=0.05)
    before = router_z_loss(router.gate(x)).item()
    for _ in range(50):
        loss = router_z_loss(router.gate(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert router_z_loss(router.gate(x)).item() < 0.5 * before


def test_capacity_drops_exactly_the_overflow_in_arrival_order():
    idx = torch.randint(0, E, (200, 1), generator=torch.Generator().manual_seed(3))
    capacity = 20
    dropped = capacity_drop_mask(idx, E, capacity)
    for e in range(E):
        tokens = (idx[:, 0] == e).nonzero().flatten()
        assert not dropped[tokens[:capacity], 0].any()  # the first `capacity` arrivals are kept
        assert dropped[tokens[capacity:], 0].all()  # every later one is dropped
