"""The pinned token's step-by-step view on the zoo (backend/layer_steps, viz/rule_views): the numbers are the
model's own, router noise shows as noise, the rule reads right in both languages, bad input gets a message."""
import pytest
import torch

from backend.analysis import analyze_text, validate_settings
from backend.layer_steps import layer_steps
from errors import UserError
from models.zoo import load_member
from text import reading
from viz.rule_views import rule_words, steps_markdown

TEXT = "def add(a, b):\n    return a + b  # Привет"


def test_the_steps_reproduce_the_zoo_layer_with_noise():
    report = analyze_text(TEXT, validate_settings(8, 2, 0, 0.5, 3))
    moe = load_member("moe-8").model.moe_layers()[1]
    outputs = []
    handle = moe.register_forward_hook(lambda _, __, out: outputs.append(out[0]))
    try:
        steps = layer_steps(report, 4, 1)
    finally:
        handle.remove()
    assert steps.output_norm == pytest.approx(float(outputs[0][0, 4].norm()), rel=1e-5)
    assert [c.expert for c in steps.contributions] == report.routing[1].expert_idx[4]
    assert any(abs(s.noise) > 1e-3 for s in steps.experts)  # noise std 0.5 moved the logits
    bias = moe.router.selection_bias
    assert all(s.selection == pytest.approx(s.score + float(bias[s.expert]), abs=1e-6) for s in steps.experts)
    first = min(steps.experts, key=lambda s: s.rank if s.rank is not None else 99)
    assert first.selection == max(s.selection for s in steps.experts)  # the top of score + bias is chosen first
    assert sum(c.gate for c in steps.contributions) == pytest.approx(1.0)  # renormalised
    quiet = layer_steps(analyze_text(TEXT, validate_settings(8, 2, 0, 0.0, 0)), 4, 1)
    assert all(s.noise == 0 for s in quiet.experts)


def test_the_rule_in_words_in_both_languages():
    deepseek = dict(score="sigmoid", choice_bias=True, groups=8, groups_kept=4, group_score="top2_sum", norm_p=1.0, scale=2.5)
    text = rule_words(deepseek, 256, 8, shared=True)
    assert "sigmoid score per expert (the 256 scores do not sum to 1)" in text
    assert "only the 4 best of 8 groups of 32 experts are eligible (a group ranked by the sum of its best two scores)" in text
    assert "renormalised to sum 1, times 2.5" in text and "a shared expert runs on every token" in text
    with reading("ru"):
        assert "допускаются только 4 лучших из 8 групп по 32 экспертов" in rule_words(deepseek, 256, 8)
    llama4 = dict(score="sigmoid", choice_bias=False, groups=1, groups_kept=1, group_score="max", norm_p=None, scale=1.0)
    assert "as they are" in rule_words(llama4, 16, 1, gate_input=True) and "scales its expert's input" in rule_words(llama4, 16, 1, True)


def test_many_experts_list_the_best_sixteen_and_every_chosen():
    report = analyze_text(TEXT, validate_settings(32, 8, 0, 0.0, 0))
    steps = layer_steps(report, 2, 0)
    table = steps_markdown(steps)
    assert "The 16 best of 32 experts of layer 0" in table
    assert all(f"| {c.expert} |" in table for c in steps.contributions)


def test_bad_positions_and_layers_get_a_message():
    report = analyze_text(TEXT, validate_settings(8, 2, 0, 0.0, 0))
    with pytest.raises(UserError, match="token position must be an integer between 0 and"):
        layer_steps(report, 999, 0)
    with pytest.raises(UserError, match="layer must be an integer between 0 and 3"):
        layer_steps(report, 0, 4)


def test_a_capture_sees_only_its_own_threads_calls():
    """Other requests' forwards on the shared model run while a capture is open: it keeps only its own."""
    import threading
    from models.capture import captured_inputs
    model = load_member("moe-8").model
    moe, started, release = model.moe_layers()[0], threading.Event(), threading.Event()

    def other() -> None:
        started.set()
        while not release.is_set():
            model(torch.zeros(1, 7, dtype=torch.long))

    thread = threading.Thread(target=other)
    thread.start()
    started.wait()
    try:
        _, inputs = captured_inputs(moe, lambda: [model(torch.zeros(1, 3, dtype=torch.long)) for _ in range(20)])
    finally:
        release.set()
        thread.join()
    assert len(inputs) == 20 and all(x.shape[1] == 3 for x in inputs)
    assert not moe._forward_pre_hooks  # removed


def test_the_table_shows_noise_bias_and_group_columns_only_where_the_rule_has_them():
    from viz.rule_views import steps_table
    quiet = layer_steps(analyze_text(TEXT, validate_settings(32, 8, 0, 0.0, 0)), 2, 0)  # moe-32: softmax, no bias
    assert list(steps_table(quiet).columns) == ["expert", "logit", "score", "choice", "gate"]
    noisy = layer_steps(analyze_text(TEXT, validate_settings(8, 2, 0, 0.5, 1)), 2, 0)  # moe-8: bias, with noise
    assert list(steps_table(noisy).columns) == ["expert", "logit", "noise", "score", "score + selection bias", "choice", "gate"]
