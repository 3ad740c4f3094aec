"""Real MoE checkpoints with this project's routing inside: tiny random checkpoints of every supported family,
made here with transformers (nothing downloaded), loaded as `--model` loads them; at the checkpoint's own
settings the logits equal transformers' own forward, and every routing control works as on the zoo."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from backend.real_models import ModelLoadError, UnknownModel, get_model, load_real_model, register, unregister
from hf_checkpoints import FAMILIES, make_checkpoint
from models.hf_families import FAMILIES as MOE_FAMILIES
from models.hf_routed import decoder_layers
from models.params import breakdown
from routing.options import RoutingOptions

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return {f: make_checkpoint(tmp_path_factory.mktemp(f), f) for f in FAMILIES}


IDS = torch.randint(0, 4096, (2, 20), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_logits_equal_transformers_forward(checkpoints, family):
    member = load_real_model(str(checkpoints[family]), dtype="float32")
    reference = AutoModelForCausalLM.from_pretrained(checkpoints[family]).eval()
    with torch.no_grad():
        ours = member.model(IDS, trace=True)
        torch.testing.assert_close(ours.logits, reference(IDS).logits, rtol=1e-5, atol=1e-5)
    cfg = member.model.cfg
    assert cfg.is_moe == (family in MOE_FAMILIES)
    assert len(ours.traces) == (cfg.n_layers if cfg.is_moe else 0)
    # the calculator's count of this config equals the modules' own parameters
    assert breakdown(member.model.arch).total == sum(p.numel() for p in reference.parameters())
    assert member.spec.name == checkpoints[family].name and member.tokenizer.get_vocab_size() == 4096


@pytest.mark.parametrize("family", list(FAMILIES))
def test_in_bfloat16_the_logits_agree_to_bf16_rounding(checkpoints, family):
    """Checkpoints load in their dtype (bf16 for most real ones): ours is as close to the float32 logits as
    transformers' own bf16 forward is, and where that is within a few bf16 steps, the two agree to one step
    (Mixtral weighs experts in float32, we in bf16; measured: at most one bf16 step, 0.0078 at |logit| ~1). A
    hybrid's recurrent layers amplify rounding (Qwen3-Next: transformers' bf16 is 0.29 from its float32, ours 0.28)."""
    member = load_real_model(str(checkpoints[family]), dtype="bfloat16")
    reference = AutoModelForCausalLM.from_pretrained(checkpoints[family], dtype=torch.bfloat16).eval()
    exact = AutoModelForCausalLM.from_pretrained(checkpoints[family], dtype=torch.float32).eval()
    with torch.no_grad():
        ours, theirs, truth = member.model(IDS).logits.float(), reference(IDS).logits.float(), exact(IDS).logits
    assert next(member.model.parameters()).dtype == torch.bfloat16
    their_error = float((theirs - truth).abs().max())
    assert float((ours - truth).abs().max()) <= 1.25 * their_error + 7.8e-3  # + one bf16 step at |logit| 1
    if their_error < 0.1:
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1.6e-2)


def test_qwen3_dense_layers_stay_dense_and_the_moe_layers_are_numbered_in_order(checkpoints):
    member = load_real_model(str(checkpoints["qwen3_moe"]), dtype="float32")
    assert member.model.cfg.n_layers == 1 and [b.moe.layer for b in member.model.blocks] == [0]


@pytest.mark.parametrize("family", list(MOE_FAMILIES))
def test_routing_controls_work_on_real_models(checkpoints, family):
    model = load_real_model(str(checkpoints[family]), dtype="float32").model
    e, k = model.cfg.n_experts, model.cfg.top_k
    with torch.no_grad():
        base = model(IDS, trace=True)
        one = model(IDS, routing=RoutingOptions(top_k=1), trace=True)
        every = model(IDS, routing=RoutingOptions(top_k=e), trace=True)
        capped = model(IDS, routing=RoutingOptions(capacity_factor=0.5), trace=True)
        noisy = model(IDS, routing=RoutingOptions(noise_std=5.0, noise_seed=1), trace=True)
        again = model(IDS, routing=RoutingOptions(noise_std=5.0, noise_seed=1), trace=True)
    assert one.traces[0].top_k == 1 and every.traces[0].top_k == e and base.traces[0].top_k == k
    assert not torch.allclose(one.logits if k > 1 else every.logits, base.logits)
    assert capped.traces[0].dropped.any() and not base.traces[0].dropped.any()
    assert not torch.equal(noisy.traces[0].expert_idx, base.traces[0].expert_idx)
    assert torch.equal(noisy.logits, again.logits)  # a seeded draw is reproducible
    active = [breakdown(model.arch, active=True, top_k=t).routed_experts for t in (1, k, e)]
    assert active[0] <= active[1] < active[2] == breakdown(model.arch).routed_experts and active[0] < active[2]
    # the trace's gates follow the family's rule: renormalised (to the scaling factor) or not
    gates, rule = base.traces[0].gate_weights, model.blocks[0].rule
    assert torch.allclose(gates.sum(-1), torch.full_like(gates.sum(-1), rule.scale)) == (rule.norm_p == 1.0)


@pytest.mark.parametrize("family", list(MOE_FAMILIES))
def test_ablation_and_forcing_act_as_on_the_zoo(checkpoints, family):
    """Forcing every token onto its own choice changes nothing, bit for bit; re-routing away from an expert no token
    chose changes nothing either, except under a group-limited rule, where the ablated expert also lowers its
    group's rank (routing/rules.py): there the ablated expert is never chosen, and only tokens whose kept groups
    changed may choose differently."""
    model = load_real_model(str(checkpoints[family]), dtype="float32").model
    ids = IDS[:1, :4]
    with torch.no_grad():
        base = model(ids, trace=True)
        own = torch.stack([t.expert_idx[0] for t in base.traces])  # (L, T, K)
        forced = model(ids, routing=RoutingOptions(forced=own), trace=True)
        assert torch.equal(forced.logits, base.logits)
        one = model(ids[:, :1], trace=True)  # one token: K of E experts chosen, so some expert was not
        chosen = set(one.traces[0].expert_idx.flatten().tolist())
        unchosen = next(e for e in range(model.cfg.n_experts) if e not in chosen)
        mask = torch.zeros(model.cfg.n_layers, model.cfg.n_experts, dtype=torch.bool)
        mask[0, unchosen] = True
        ablated = model(ids[:, :1], routing=RoutingOptions(ablation=mask, ablation_mode="reroute"), trace=True)
    assert unchosen not in ablated.traces[0].expert_idx.flatten().tolist()
    if model.blocks[0].rule.groups == 1:
        assert torch.equal(ablated.logits, one.logits)


@pytest.mark.parametrize("family", list(MOE_FAMILIES))
def test_cached_decoding_equals_the_full_forward(checkpoints, family):
    model = load_real_model(str(checkpoints[family]), dtype="float32").model
    ids = IDS[:1]
    cache = model.new_cache(1, 20)
    with torch.no_grad():
        full = model(ids).logits
        steps = [model(ids[:, :12], cache=cache).logits[:, -1]]
        steps += [model(ids[:, t : t + 1], cache=cache).logits[:, -1] for t in range(12, 20)]
        torch.testing.assert_close(torch.stack(steps[1:], 1), full[:, 12:], rtol=1e-5, atol=1e-5)
        cache.length = 12  # dropping the newest positions decodes them again, as the timing harness does
        torch.testing.assert_close(model(ids[:, 12:13], cache=cache).logits[:, -1], full[:, 12], rtol=1e-5, atol=1e-5)


def test_concurrent_calls_never_see_each_others_settings(checkpoints):
    from concurrent.futures import ThreadPoolExecutor
    model = load_real_model(str(checkpoints["olmoe"]), dtype="float32").model
    with torch.no_grad():
        expected = {k: model(IDS, routing=RoutingOptions(top_k=k), trace=True).traces[0].top_k for k in (1, 2, 5)}

        def run(k):
            return [model(IDS, routing=RoutingOptions(top_k=k), trace=True).traces[0].top_k for _ in range(5)]
        with ThreadPoolExecutor(3) as pool:
            results = dict(zip((1, 2, 5), pool.map(run, (1, 2, 5))))
    assert all(ks == [expected[k]] * 5 for k, ks in results.items())


def test_refusals_say_why(tmp_path, checkpoints):
    with pytest.raises(ModelLoadError, match="not a checkpoint directory"):
        load_real_model(str(tmp_path / "missing"))
    (tmp_path / "jamba").mkdir()
    (tmp_path / "jamba/config.json").write_text('{"model_type": "jamba", "num_experts": 16}')
    with pytest.raises(ModelLoadError, match="MoE family 'jamba' is not supported; supported MoE families: mixtral, .*, dbrx"):
        load_real_model(str(tmp_path / "jamba"))
    with pytest.raises(ModelLoadError, match=r"need 0\.0 GiB .* 0\.0 GiB available"):
        load_real_model(str(checkpoints["mixtral"]), available=1000)
    with pytest.raises(ModelLoadError, match="dtype must be one of"):
        load_real_model(str(checkpoints["mixtral"]), dtype="int3")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert/config.json").write_text('{"model_type": "bert", "vocab_size": 100, "hidden_size": 8}')
    with pytest.raises(ModelLoadError, match="transformers cannot load it as a causal language model"):
        load_real_model(str(tmp_path / "bert"))


def test_registry_lists_loaded_models_and_names_the_missing(checkpoints):
    member = load_real_model(str(checkpoints["granitemoe"]), dtype="float32")
    register(member)
    try:
        assert get_model(member.spec.name) is member and get_model("moe-8").spec.name == "moe-8"
        with pytest.raises(ModelLoadError, match="already there"):
            register(member)
        with pytest.raises(UnknownModel, match=f"available: dense, .*{member.spec.name}"):
            get_model("nope")
    finally:
        unregister(member.spec.name)
    assert math.isfinite(member.model.cfg.context_length)


@pytest.fixture()
def registered(checkpoints):
    """A real MoE (OLMoE) and a dense twin (Llama) with the same tokenizer, registered as --model does."""
    members = [load_real_model(str(checkpoints[f]), dtype="float32") for f in ("olmoe", "llama")]
    for m in members:
        register(m)
    yield [m.spec.name for m in members]
    for m in members:
        unregister(m.spec.name)


def test_the_page_backend_analyses_a_real_moe_beside_its_dense_twin(registered):
    from backend.analysis import InputError, analyze_text, measure_report_latency, next_token_predictions, validate_settings
    from backend.interventions import ablate, expert_importance, top_k_sweep
    from models.hf_routed import HFModel
    moe, dense = registered
    settings = validate_settings(8, 3, 0, 0.0, 0, moe, dense)
    assert settings.n_experts == 8 and settings.twin_names == [dense]
    report = analyze_text("def add(a, b):\n    return a + b", settings)
    assert [m.name for m in report.models] == [dense, moe] and report.moe.name == moe
    assert len(report.routing) == 2 and len(report.routing[0].expert_idx[0]) == 3
    member = get_model(moe)
    assert isinstance(member.model, HFModel)
    assert report.moe.active_params == breakdown(member.model.arch, active=True, top_k=3).total
    assert report.moe.total_params == sum(p.numel() for p in member.model.hf.parameters())
    assert report.differences and report.differences[0].b == dense
    assert set(next_token_predictions(report, 3)) == {dense, moe}
    timed = measure_report_latency(report, repeats=1, decode_tokens=2)
    assert set(timed.latency.models) == {dense, moe}
    one = analyze_text("def add(a, b):\n    return a + b", validate_settings(8, 1, 0, 0.0, 0, moe, dense))
    assert one.moe.active_params < report.moe.active_params
    assert ablate("def add(a, b):\n    return a + b", settings, None, [0, 1], "reroute").mean_after is not None
    from backend.interventions import force
    own = analyze_text("def add(a, b): return a", settings).routing
    forced = force("def add(a, b): return a", settings, [5, 6, 7], 2, 4, 1)
    assert forced.mean_after != forced.mean_before and forced.changed_choices[0] == 0 < forced.changed_choices[1]
    assert own[1].expert_idx[2] != [5, 6, 7]
    assert len(expert_importance("def add(a, b): return a", settings).increase) == 2
    sweep = top_k_sweep("def add(a, b): return a", settings, measure=False)
    assert [p.k for p in sweep.points] == list(range(1, 9)) and set(sweep.dense) == {dense}
    with pytest.raises(InputError, match="top-K must be an integer between 1 and the number of experts \\(8\\)"):
        validate_settings(8, 9, 0, 0.0, 0, moe)
    with pytest.raises(InputError, match="dense_model must be a loaded dense model"):
        validate_settings(8, 2, 0, 0.0, 0, moe, moe)
    from backend.real_models import routing_cards
    from page.compare import on_model_card
    cards = routing_cards()
    assert [(c["name"], c["family"], c["rule"]["score"], c["n_experts"]) for c in cards] == [(moe, "OLMoE", "softmax", 8)]
    assert f"**{moe}** (OLMoE, e.g. allenai/OLMoE-1B-7B-0924): 8 experts, top-3" in on_model_card()[0]


def test_the_expert_cache_view_measures_a_real_moe_and_uses_its_own_sizes(registered):
    from backend.analysis import validate_settings
    from backend.expert_cache import cache_table, measured_coverage
    from page.latency import cache_views
    moe, _ = registered
    settings = validate_settings(8, 3, 0, 0.0, 0, moe)
    curves = measured_coverage("def add(a, b):\n    return a + b", settings)
    assert curves.model == moe and len(curves.measured) == 2 and all(len(c) == 9 for c in curves.measured)
    assert all(c[0] == 0.0 and c[-1] == pytest.approx(1.0) for c in curves.measured)
    rows = cache_table(get_model(moe).model.arch, 4.0, curves.mean, 1000, 25)
    assert rows[-1].fetched_mb_per_token == 0 and rows[0].tokens_per_s < rows[-1].tokens_per_s
    coverage, speed = cache_views("def add(a, b):\n    return a + b", 8, "mixtral-8x7b", "bf16", 1000, 25, moe)
    assert moe in speed.layout.title.text


def test_the_model_choosers_name_the_zoo_and_the_real_models_in_the_readers_language(registered):
    import gradio as gr
    from page.common import I18N, ZOO, model_chooser
    moe, dense = registered
    for is_moe, name, kind in ((True, moe, "MoE: 8 experts, top-3, 2 MoE layers"), (False, dense, "dense")):
        with gr.Blocks():
            chooser = model_chooser(moe=is_moe, elem_id="chooser")
        labels = {value: label.key for label, value in chooser.choices}
        assert set(labels) == {ZOO, name}
        english, russian = I18N.translations["en"][labels[name]], I18N.translations["ru"][labels[name]]
        assert english.startswith(f"{name}: ") and kind in english and "GiB in memory" in english, english
        assert russian.startswith(f"{name}: ") and "ГиБ в памяти" in russian and "M параметров" in russian, russian
        assert ("экспертов" in russian) == is_moe and ("плотная" in russian) == (not is_moe)
        assert I18N.translations["ru"][labels[ZOO]] != I18N.translations["en"][labels[ZOO]]


def test_a_twin_with_another_tokenizer_is_refused(registered, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from backend.analysis import InputError, analyze_text, validate_settings
    moe, dense = registered
    other = get_model(dense)
    words = Tokenizer(models.WordLevel({"[unk]": 0, "def": 1}, unk_token="[unk]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    unregister(dense)
    register(type(other)(other.spec, other.model, words))  # the same dense model behind a different tokenizer
    with pytest.raises(InputError, match="splits this text into other tokens"):
        analyze_text("def add(a, b): return a", validate_settings(8, 3, 0, 0.0, 0, moe, dense))


def test_a_zoo_member_exported_and_loaded_back_routes_exactly_like_the_zoo(tmp_path):
    """The round trip: moe-32 (softmax-routed) exported to Mixtral format, loaded as `--model` loads it, gives the zoo's own
    routing and logits under any routing option (transformers' attention, our routing inside)."""
    from models.hf_export import export
    from models.zoo import load_member
    zoo = load_member("moe-32")
    export(zoo.model, tmp_path / "moe-32-mixtral")
    real = load_real_model(str(tmp_path / "moe-32-mixtral"), dtype="float32")
    text = "def add(a, b):\n    return a + b  # сумма"
    ids = torch.tensor([zoo.tokenizer.encode(text).ids])
    assert real.tokenizer.encode(text).ids == ids[0].tolist()
    for routing in (RoutingOptions(), RoutingOptions(top_k=1), RoutingOptions(top_k=5, capacity_factor=1.0),
                    RoutingOptions(noise_std=1.0, noise_seed=7)):
        with torch.no_grad():
            ours, theirs = zoo.model(ids, routing=routing, trace=True), real.model(ids, routing=routing, trace=True)
        torch.testing.assert_close(theirs.logits, ours.logits, rtol=1e-4, atol=1e-4)
        for a, b in zip(ours.traces, theirs.traces):
            assert torch.equal(a.expert_idx, b.expert_idx) and torch.equal(a.dropped, b.dropped)


@pytest.mark.parametrize("family", list(MOE_FAMILIES))
def test_the_step_by_step_view_recomputes_the_layer(checkpoints, family):
    """The pinned token's steps (backend/layer_steps) reproduce what the model computed: the report's choices and
    gates, and the layer's own output (routed experts plus the shared one) for that token."""
    from backend.analysis import analyze_text, validate_settings
    from backend.layer_steps import layer_steps
    from viz.rule_views import steps_markdown
    member = load_real_model(str(checkpoints[family]), dtype="float32")
    register(member)
    try:
        report = analyze_text("def add(a, b):\n    return a + b", validate_settings(8, member.model.cfg.top_k, 0, 0.0, 0,
                                                                                    member.spec.name))
        block = member.model.blocks[0]
        outputs = []
        handle = block.register_forward_hook(lambda _, __, out: outputs.append(out[0] if isinstance(out, tuple) else out))
        try:
            steps = layer_steps(report, 3, 0)
        finally:
            handle.remove()
    finally:
        unregister(member.spec.name)
    assert [c.expert for c in steps.contributions] == report.routing[0].expert_idx[3]
    assert [c.gate for c in steps.contributions] == pytest.approx(report.routing[0].gate_weights[3], abs=1e-6)
    assert steps.output_norm == pytest.approx(float(outputs[0].reshape(-1, outputs[0].shape[-1])[3].norm()), rel=1e-5)
    assert (steps.shared_norm is not None) == (MOE_FAMILIES[family].shared is not None)
    assert all(s.eligible for s in steps.experts if s.rank is not None)
    assert "The rule:" in steps_markdown(steps)


def test_an_ablation_under_a_group_limited_rule_says_what_differs(checkpoints):
    from backend.analysis import validate_settings
    from backend.interventions import ablate
    member = load_real_model(str(checkpoints["deepseek_v3"]), dtype="float32")
    register(member)
    try:
        settings = validate_settings(8, 3, 0, 0.0, 0, member.spec.name)
        report = ablate("def add(a, b): return a", settings, 0, [1], "reroute")
        zeroed = ablate("def add(a, b): return a", settings, 0, [1], "zero")
    finally:
        unregister(member.spec.name)
    assert "group-limited rule a switched-off expert also lowers its group's rank" in report.description
    assert "group-limited" not in zeroed.description  # zeroing an output does not re-rank anything


def offloading_cap(hf) -> int:
    """A memory cap for accelerate that keeps the embeddings, the head and at most one decoder layer in memory (the
    smallest one's size to spare): the rest goes to the disk, MoE layers included."""
    size = lambda module: sum(p.numel() * p.element_size() for p in module.parameters())  # noqa: E731
    head = hf.get_output_embeddings()
    return size(hf.get_input_embeddings()) + (size(head) if head is not None else 0) + min(map(size, decoder_layers(hf, hf.config.model_type)))


@pytest.mark.parametrize("family", list(MOE_FAMILIES))
def test_layers_offloaded_to_disk_give_the_same_logits_and_routing(checkpoints, family, tmp_path):
    """--device auto with a memory cap: accelerate keeps part of the model in memory and the rest on the disk,
    bringing each offloaded layer in for its forward; logits, routing and every routing control are unchanged, and
    nothing keeps an offloaded router's weights in memory after the call."""
    memory = load_real_model(str(checkpoints[family]), dtype="float32")
    member = load_real_model(str(checkpoints[family]), dtype="float32", device="auto", offload_dir=str(tmp_path),
                             max_memory={"cpu": offloading_cap(memory.model.hf)})
    model = member.model
    assert {"cpu", "disk"} <= set(model.hf.hf_device_map.values()) and model.offloaded, model.hf.hf_device_map
    assert "on disk" in member.spec.description and "in memory" in member.spec.description
    mask = torch.zeros(model.cfg.n_layers, model.cfg.n_experts, dtype=torch.bool)
    mask[-1, 0] = True
    with torch.no_grad():
        for routing in (RoutingOptions(), RoutingOptions(top_k=1, noise_std=0.5, noise_seed=3, capacity_factor=1.0),
                        RoutingOptions(ablation=mask, ablation_mode="zero")):
            expected, got = memory.model(IDS, routing=routing, trace=True), model(IDS, routing=routing, trace=True)
            torch.testing.assert_close(got.logits, expected.logits, rtol=1e-5, atol=1e-5)
            for a, b in zip(expected.traces, got.traces, strict=True):
                assert torch.equal(a.expert_idx, b.expert_idx) and torch.equal(a.dropped, b.dropped)
    offloaded = [b for b in model.blocks if b.offloaded]
    assert offloaded and all(b.moe.router.gate.weight.is_meta for b in offloaded)


def test_a_gpu_that_is_not_there_is_refused_and_the_refusal_says_how_to_offload(checkpoints):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the cuda path is tested in test_on_the_gpu_the_logits_and_routing_match_the_cpu")
    with pytest.raises(ModelLoadError, match="--device cuda, but torch sees no CUDA GPU"):
        load_real_model(str(checkpoints["olmoe"]), device="cuda")
    with pytest.raises(ModelLoadError, match="--device auto --offload-dir DIR"):
        load_real_model(str(checkpoints["olmoe"]), available=1000)
    with pytest.raises(ModelLoadError, match="device must be one of cpu, cuda, auto"):
        load_real_model(str(checkpoints["olmoe"]), device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
@pytest.mark.parametrize("family", ["olmoe", "deepseek_v3", "qwen3_moe"])
def test_on_the_gpu_the_logits_and_routing_match_the_cpu(checkpoints, family):
    """--device cuda: weights, router and experts on the GPU; logits and traces come back on the CPU, equal to the CPU
    model's within float32 rounding of different kernels."""
    cpu = load_real_model(str(checkpoints[family]), dtype="float32").model
    gpu = load_real_model(str(checkpoints[family]), dtype="float32", device="cuda").model
    assert gpu.device.type == "cuda" and gpu.blocks[0].moe.router.gate.weight.is_cuda
    mask = torch.zeros(gpu.cfg.n_layers, gpu.cfg.n_experts, dtype=torch.bool)
    mask[0, 1] = True
    with torch.no_grad():
        for routing in (RoutingOptions(), RoutingOptions(top_k=1, capacity_factor=1.0), RoutingOptions(ablation=mask)):
            expected, got = cpu(IDS, routing=routing, trace=True), gpu(IDS, routing=routing, trace=True)
            assert got.logits.device.type == "cpu" and got.traces[0].expert_idx.device.type == "cpu"
            torch.testing.assert_close(got.logits, expected.logits, rtol=1e-4, atol=1e-4)
            agree = torch.cat([(a.expert_idx == b.expert_idx).flatten() for a, b in zip(expected.traces, got.traces)])
            assert agree.float().mean() > 0.99  # near-ties may flip under other kernels' rounding
        noisy = RoutingOptions(noise_std=1.0, noise_seed=5)
        assert torch.equal(gpu(IDS, routing=noisy, trace=True).traces[0].expert_idx,
                           gpu(IDS, routing=noisy, trace=True).traces[0].expert_idx)  # seeded noise repeats on the GPU


def test_the_zoo_is_counted_once_in_a_real_models_memory_check(checkpoints):
    """A loaded zoo member is already out of the memory the machine reports available; one still to load is reserved:
    the check keeps exactly the weight files of the members not loaded yet free, no more."""
    import json

    from backend.real_models import check_fits, weight_bytes
    from models import zoo
    from paths import zoo_dir
    from scale.architectures import parse_hf_config

    def file_bytes(name):
        return sum(p.stat().st_size for p in (zoo_dir() / name).glob("*.safetensors"))
    pending = {name for name in zoo.SPECS if name not in zoo._LOADED}
    assert zoo.bytes_to_load() == sum(file_bytes(name) for name in pending)
    zoo.load_member("dense")
    assert zoo.bytes_to_load() == sum(file_bytes(name) for name in pending - {"dense"})
    config = json.loads((checkpoints["olmoe"] / "config.json").read_text())
    arch = parse_hf_config(config)
    need = weight_bytes(config, breakdown(arch).total, "float32")
    available = int(need / 0.9) + 1000
    check_fits("olmoe", config, arch, "float32", available, reserved=0)  # fits
    with pytest.raises(ModelLoadError, match=r"GiB of them kept for the zoo's models"):
        check_fits("olmoe", config, arch, "float32", available, reserved=2000)


def test_loaded_weights_are_resident_once_not_also_in_the_checkpoint_files_memory_map(checkpoints):
    """transformers leaves the tensors it does not convert in the safetensors file's memory map, which then keeps every
    page of the file it read resident beside the converted copies; the loader copies them out, so the map goes."""
    from backend.real_models import checkpoint_mappings

    def mapped(hf):
        ranges = checkpoint_mappings()
        return [n for n, p in hf.named_parameters() if any(a <= p.untyped_storage().data_ptr() < b for a, b in ranges)]
    raw = AutoModelForCausalLM.from_pretrained(str(checkpoints["olmoe"]), dtype="auto")
    assert mapped(raw), "transformers no longer maps checkpoint tensors: the copy in load_real_model may go"
    model = load_real_model(str(checkpoints["olmoe"])).model
    assert not mapped(model.hf)
    with torch.no_grad():  # the copies hold the same values
        torch.testing.assert_close(model(IDS).logits, raw(input_ids=IDS).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["olmoe", "qwen3_moe", "deepseek_v3"])
def test_importance_resumes_each_layers_ablations_from_one_recorded_forward(checkpoints, family, monkeypatch):
    """The heatmap's ablations of MoE layer l change nothing below it: the decoder layers there are not run again but
    taken from one recorded forward (dense layers before an MoE layer included), and the increases equal the full
    computation's."""
    import backend.interventions as interventions
    from backend.analysis import validate_settings
    member = load_real_model(str(checkpoints[family]), dtype="float32")
    register(member)
    try:
        layers = decoder_layers(member.model.hf, family)
        runs = []
        for layer in layers:  # a decoder layer that runs calls its first module: count its rows
            next(layer.children()).register_forward_pre_hook(
                lambda module, args, kwargs: runs.append((args[0] if args else kwargs["hidden_states"]).shape[0]), with_kwargs=True)
        monkeypatch.setattr(interventions, "IMPORTANCE_ROWS_PER_PASS", 4)  # passes of one layer each
        settings = validate_settings(8, 2, 0, 0.0, 0, member.spec.name, None)
        text = "def add(a, b): return a + b"
        resumed = interventions.expert_importance(text, settings).increase
        resumed_rows, runs[:] = sum(runs), []
        monkeypatch.setattr(interventions, "resumable_from", lambda *_: None)
        full = interventions.expert_importance(text, settings).increase
        if max(member.model.moe_decoder_index) > 0:
            assert sum(runs) > resumed_rows  # layers below each pass's ablated layer were not run again
        else:  # the only MoE layer is the first: nothing to skip, so nothing is recorded
            assert sum(runs) == resumed_rows
        torch.testing.assert_close(torch.tensor(resumed), torch.tensor(full), rtol=1e-5, atol=1e-6)
        assert (torch.tensor(resumed) == 0).equal(torch.tensor(full) == 0)  # an unused expert: exactly 0 either way
        assert member.model.moe_decoder_index == [i for i, layer in enumerate(layers) if any(b in layer.children() for b in member.model.blocks)]
    finally:
        unregister(member.spec.name)
