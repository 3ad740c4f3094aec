"""The JSON API through gradio_client against the launched server."""
import concurrent.futures

import pytest
from gradio_client import Client

from backend.analysis import Settings, analyze_text

TEXT = "def add(a, b):\n    return a + b  # сумма\n"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def call(client, text=TEXT, n_experts=8, top_k=2, capacity=0.0, noise=0.0, seed=0, latency=False):
    return client.predict(text, n_experts, top_k, capacity, noise, seed, latency, api_name="/analyze")


def test_api_report_equals_the_backend(client):
    report = call(client, n_experts=16, top_k=3, capacity=1.0)
    direct = analyze_text(TEXT, Settings(n_experts=16, top_k=3, capacity_factor=1.0)).to_dict()
    assert report["tokens"] == direct["tokens"] and report["token_ids"] == direct["token_ids"]
    assert [m["name"] for m in report["models"]] == ["dense", "moe-16", "dense-wide"]
    for got, want in zip(report["routing"], direct["routing"]):
        assert got["expert_idx"] == want["expert_idx"] and got["dropped"] == want["dropped"]
        for got_row, want_row in zip(got["gate_weights"], want["gate_weights"]):
            assert got_row == pytest.approx(want_row, abs=1e-6)
    for got, want in zip(report["models"], direct["models"]):
        assert got["active_params"] == want["active_params"]
        assert got["token_losses"][1:] == pytest.approx(want["token_losses"][1:], abs=1e-5)
    assert report["latency"] is None


def test_api_measures_latency_when_asked(client):
    latency = call(client, latency=True)["latency"]
    assert set(latency["models"]) == {"dense", "moe-8", "dense-wide"}
    for timings in latency["models"].values():
        assert len(timings["prefill_ms"]["samples"]) == latency["repeats"]
        assert timings["prefill_ms"]["median"] > 0 and timings["decode_tokens_per_s"]["median"] > 0
    assert "CPU threads" in latency["description"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(text=""), "empty"),
        (dict(text=" \n\t "), "empty"),
        (dict(top_k=0), "top-K must be an integer between 1"),
        (dict(top_k=9), "top-K must be an integer between 1"),
        (dict(n_experts=5), "number of experts must be one of"),
        (dict(capacity=-1.0), "capacity factor must be positive"),
        (dict(noise=1e9), "router noise must be between"),
    ],
)
def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(client, kwargs, message):
    with pytest.raises(Exception, match=message):
        call(client, **kwargs)
    assert call(client)["models"][1]["name"] == "moe-8"


def test_concurrent_users_get_their_own_settings(client, app_url):
    def run(k):
        return k, Client(app_url, verbose=False).predict(TEXT, 8, k, 0.0, 0.0, 0, False, api_name="/analyze")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [1, 2, 3, 4, 1, 2, 3, 4]))
    for k, report in results:
        assert all(len(row) == k for layer in report["routing"] for row in layer["expert_idx"])
        assert report["settings"]["top_k"] == k


def test_intervention_endpoints_equal_the_backend(client):
    from backend.interventions import ablate, expert_importance, force

    settings = Settings(n_experts=8, top_k=2)
    got = client.predict(TEXT, 8, 2, 1, [3, 5], "zero", api_name="/ablate")
    want = ablate(TEXT, settings, 1, [3, 5], "zero").to_dict()
    assert got["description"] == want["description"] and got["load_after"] == want["load_after"]
    assert got["mean_after"] == pytest.approx(want["mean_after"], abs=1e-6)
    importance = client.predict(TEXT, 8, 2, "reroute", api_name="/importance")
    want = expert_importance(TEXT, settings).increase
    assert sum(importance["increase"], []) == pytest.approx(sum(want, []), abs=1e-6)
    forced = client.predict(TEXT, 8, 2, [0, 1], 2, 6, -1, api_name="/force")
    assert forced["mean_after"] == pytest.approx(force(TEXT, settings, [0, 1], 2, 6).mean_after, abs=1e-6)
    sweep = client.predict(TEXT, 4, False, api_name="/top_k_sweep")
    assert [p["k"] for p in sweep["points"]] == [1, 2, 3, 4]
    with pytest.raises(Exception, match="expert must be an integer between 0 and 7"):
        client.predict(TEXT, 8, 2, -1, [8], "reroute", api_name="/ablate")
    assert call(client)["tokens"]  # still serving


def test_api_analyses_a_loaded_real_moe_beside_its_dense_twin(real_app_url, real_checkpoints):
    client = Client(real_app_url, verbose=False)
    moe, dense = (real_checkpoints[f].name for f in ("olmoe", "llama"))
    report = client.predict(TEXT, 8, 1, 0.0, 0.0, 0, False, moe, dense, api_name="/analyze")
    assert [m["name"] for m in report["models"]] == [dense, moe]
    assert report["settings"]["n_experts"] == 8 and all(len(row) == 1 for row in report["routing"][0]["expert_idx"])
    wider = client.predict(TEXT, 8, 3, 0.0, 0.0, 0, False, moe, dense, api_name="/analyze")
    assert wider["models"][1]["active_params"] > report["models"][1]["active_params"]
    with pytest.raises(Exception, match="model must be a loaded MoE model, got 'nope'; loaded: " + moe):
        client.predict(TEXT, 8, 1, 0.0, 0.0, 0, False, "nope", "", api_name="/analyze")
    ablation = client.predict(TEXT, 8, 2, -1, [0], "reroute", moe, api_name="/ablate")
    assert ablation["model"] == moe
    assert client.predict(TEXT, 8, 2, 0.0, 0.0, 0, False, api_name="/analyze")["models"][1]["name"] == "moe-8"  # zoo still default


def test_expert_parallel_endpoint_measures_two_ranks(client):
    run = client.predict(TEXT, "moe-8", 1, "zoo", api_name="/expert_parallel")
    assert run["n_ranks"] == 2 and run["member"] == "moe-8" and run["n_tokens"] == len(analyze_text(TEXT, Settings()).tokens)
    assert [s["fix"] for s in run["scenarios"]] == ["", "greedy", "replicated", "capacity", "capacity"]
    assert all(s["measured_equals_closed_form"] for s in run["scenarios"])
    assert sum(run["scenarios"][0]["closed_form"]["rows_computed"]) == 2 * run["n_tokens"]  # top-2, nothing dropped
    with pytest.raises(Exception, match="width must be one of zoo, realistic"):
        client.predict(TEXT, "moe-8", 1, "wide", api_name="/expert_parallel")
    assert call(client)["tokens"]  # still serving
