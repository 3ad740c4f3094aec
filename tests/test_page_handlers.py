"""Every page handler answers bad input with a clear message (gr.Error), never another exception, and
an internal failure with a short generic message that names no server path."""
import json

import gradio as gr
import pytest

from backend.analysis import Settings, analyze_text
from page import common, compare, interventions, problems, scale, specialisation
from paths import ROOT

TEXT = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def report():
    return analyze_text(TEXT, Settings())


def no_progress(*args, **kwargs):
    return None


@pytest.mark.parametrize("args,message", [
    ((TEXT, 5, 2, 0, 0, 0, 0), "number of experts must be one of"),
    ((TEXT, 8, 9, 0, 0, 0, 0), r"top-K must be an integer between 1 and the number of experts \(8\)"),
    ((TEXT, 8, 2, -1, 0, 0, 0), "capacity factor must be positive"),
    ((TEXT, 8, 2, 0, 99, 0, 0), "router noise must be between"),
    ((TEXT, 8, 2, 0, 0, 0, 7), "layer must be an integer between 0 and 3"),
    ((TEXT, 8, 2, 0, 0, 0, None), "layer must be an integer"),
])
def test_analyse_bad_input(args, message):
    with pytest.raises(gr.Error, match=message):
        compare.on_analyze(*args)


def test_layer_experts_and_specialisation_handlers_bad_input(report):
    with pytest.raises(gr.Error, match="layer must be an integer between 0 and 3"):
        compare.on_layer(report, -1)
    with pytest.raises(gr.Error, match="layer must be"):
        compare.on_text_specialisation(report, "two")
    with pytest.raises(gr.Error, match="number of experts must be one of"):
        compare.on_experts(3)
    top_k, layer = compare.on_experts(4)
    assert top_k.maximum == 4 and top_k.value == 2 and layer.maximum == 3  # the trained top-K
    top_k, _ = compare.on_experts(32)
    assert top_k.maximum == 32 and top_k.value == 8
    with pytest.raises(gr.Error, match="model must be a loaded MoE model, got 'gpt-5'; loaded: none"):
        compare.on_experts(8, "gpt-5")
    assert all(isinstance(out, type(gr.skip())) for out in compare.on_measure(None))  # nothing analysed: nothing timed


def test_problems_tab_bad_input():
    with pytest.raises(gr.Error, match="at least one recorded variant"):
        problems.on_recorded(["no such run"], 1)
    with pytest.raises(gr.Error, match="layer must be an integer between 0 and 3"):
        problems.on_recorded(["none"], 9)
    with pytest.raises(gr.Error, match="capacity factor above 0"):
        problems.on_capacity(TEXT, 0, 1)
    with pytest.raises(gr.Error, match="top-K must be"):
        problems.on_capacity(TEXT, 1.0, 0)
    with pytest.raises(gr.Error, match="steps must be an integer between 10 and"):
        next(problems.on_live("aux", 5, progress=no_progress))
    with pytest.raises(gr.Error, match="method must be one of"):
        next(problems.on_live("dropout", 20, progress=no_progress))


def test_scale_and_specialisation_tabs_bad_input():
    status, *outputs = scale.on_scale(["mixtral-8x7b"], '{"model_type": "mix', 4096)  # half typed: no error toast
    rows = [line for line in outputs[0].splitlines() if line.startswith("| ")]
    assert "not valid JSON" in status and len(rows) == 2 and "Mixtral" in rows[1]  # header and the chosen model's row stay
    status, *outputs = scale.on_scale([], "{", 4096)
    assert "not valid JSON" in status and all(isinstance(o, type(gr.skip())) for o in outputs)
    with pytest.raises(gr.Error, match="unknown preset"):
        scale.on_scale(["zoo:../../etc"], "", 4096)
    with pytest.raises(gr.Error, match="context length must be between"):
        scale.on_scale(["mixtral-8x7b"], "", -5)
    with pytest.raises(gr.Error, match="No routing analysis for 'gpt-4'"):
        specialisation.on_show("gpt-4", 0)
    with pytest.raises(gr.Error, match="layer must be an integer between 0 and 3"):
        specialisation.on_show("moe-8", 4)


def test_internal_failures_are_logged_and_shown_without_paths(caplog):
    def broken():
        raise ValueError(f"cannot read {ROOT}/assets/models/moe-8/model.safetensors")  # not a UserError

    with pytest.raises(gr.Error) as error:
        common.run_backend(broken)
    assert error.value.message == common.GENERIC_FAILURE and str(ROOT) not in error.value.message
    assert "model.safetensors" in caplog.text  # the operator still sees it in the log


def test_interventions_tab_bad_input():
    with pytest.raises(gr.Error, match="expert must be an integer between 0 and 7"):
        interventions.on_ablate(TEXT, 8, 2, "zoo", "all layers", [9], "reroute")
    with pytest.raises(gr.Error, match="layer must be an integer between 0 and 3"):
        interventions.on_ablate(TEXT, 8, 2, "zoo", 7, [1], "reroute")
    with pytest.raises(gr.Error, match="choose exactly top-K = 2 experts"):
        interventions.on_force(TEXT, 8, 2, "zoo", [1], 0, -1, "all layers")
    with pytest.raises(gr.Error, match="Paste some text"):
        interventions.on_importance("   ", 8, 2, "zoo")
    with pytest.raises(gr.Error, match="number of experts must be one of"):
        interventions.on_experts(6, "zoo")
    summary, *_ = interventions.on_ablate(TEXT, 8, 2, "zoo", 1, [0], "zero")
    assert "switched off in layer 1" in summary and "nats/token" in summary


def test_the_interventions_tab_recomputes_the_zoos_results_without_pop_ups_for_stale_selections():
    selections = ("all layers", [0], "reroute", [0, 1], 0, -1, "all layers")
    outputs = interventions.on_auto(TEXT, 8, 2, "zoo", *selections)
    assert len(outputs) == interventions.AUTO_OUTPUTS
    importance, sweep_plot, sweep_df, ablated, *_, forced, force_plot, force_df = outputs
    assert len(sweep_df) == 8 + 2 and "decode (tokens/s, median)" not in sweep_df.columns  # K = 1..8, both twins, untimed
    assert "switched off in every layer" in ablated and "forced to experts 0, 1" in forced
    *_, forced, force_plot, force_df = interventions.on_auto(TEXT, 8, 3, "zoo", *selections)  # 2 chosen, top-K 3
    assert forced.startswith("⚠") and "choose exactly top-K = 3 experts" in forced and force_plot is None
    assert all(out in (None, "") for out in interventions.on_auto(" ", 8, 2, "zoo", *selections))


def test_clearing_the_text_clears_every_result_and_the_downloads():
    outputs = compare.on_analyze("  \n ", 8, 2, 0, 0, 0, 0)
    assert outputs[0] is None and "Paste some text" in outputs[1]
    assert all(out in (None, "") for out in outputs[2:])
    assert len(outputs) == len(compare.on_analyze(TEXT, 8, 2, 0, 0, 0, 0))


def test_the_downloads_hold_the_new_settings_before_any_timing(tmp_path):
    *_, csv_path, json_path = compare.on_analyze(TEXT, 16, 3, 0, 0, 0, 0)
    report = json.loads(open(json_path).read())
    assert report["settings"]["n_experts"] == 16 and report["settings"]["top_k"] == 3 and report["latency"] is None
    assert "expert" in open(csv_path).read()


def test_the_model_card_and_the_unseen_characters_notice_come_from_the_shipped_files():
    from backend.model_card import model_card
    from viz.comparison_views import model_card_markdown

    card = model_card()
    assert [m["name"] for m in card["members"]] == ["dense", "moe-4", "moe-8", "moe-16", "moe-32", "dense-wide"]
    text = model_card_markdown(card)
    assert "no Chinese or Japanese characters" in text and "ln 4,096 = 8.32 nats" in text
    assert all(f"| {name} | baseline counted on the training split |" in text for name in card["baselines"])
    assert "Kneser-Ney trigram" in card["baselines"]
    rows = [row for row in text.splitlines() if row.startswith("| ")]
    assert len({row.count("|") for row in rows[rows.index(next(r for r in rows if r.startswith("| model |"))):]}) == 1  # no ragged row
    seeded = dict(card, members=[dict(m, seeds={1: 3.50, 2: 3.48}) if m["name"] == "dense" else m for m in card["members"]])
    text_seeded = model_card_markdown(seeded)
    dense_row = next(row for row in text_seeded.splitlines() if row.startswith("| dense |"))
    assert dense_row.endswith("| 3.490 ± 0.014 (2) |") and "Other seeds:" in text_seeded
    model_rows = [r for r in text_seeded.splitlines() if r.startswith("| ")]
    assert len({r.count("|") for r in model_rows[model_rows.index(next(r for r in model_rows if r.startswith("| model |"))):]}) == 1
    from backend.model_card import balancing
    from models.zoo import SPECS
    line = next(row for row in text.splitlines() if row.startswith("**Load balancing in training**: "))
    for name in ("moe-4", "moe-8", "moe-16", "moe-32"):  # each member's recipe, read from its config
        assert "; ".join(template.format(**values) for template, values in balancing(SPECS[name].config)) in line
    assert "moe-4, moe-8, moe-16: bias on the routing scores (DeepSeek-V3), update rate 0.001; moe-32: auxiliary loss" in line
    assert balancing(SPECS["dense"].config) == []
    assert balancing(SPECS["moe-8"].config.replace(router="bias", aux_loss_weight=0.0, z_loss_weight=0.0)) == [
        ("bias on the routing scores (DeepSeek-V3), update rate {rate:g}", {"rate": 0.001})]
    notices = analyze_text("Привет 日本 мир", Settings()).notices
    assert any("2 character(s) of this text never occur in the training text (日 本)" in n for n in notices)
    assert not analyze_text("Привет мир", Settings()).notices


def test_pinning_a_token_bad_positions_and_a_valid_one(report):
    with pytest.raises(gr.Error, match="token position must be an integer between 0 and"):
        compare.on_pin(report, 10_000)
    assert all(isinstance(o, type(gr.skip())) for o in compare.on_pin(None, 2))
    note, view, figure, table, steps = compare.on_pin(report, 2)
    assert f"Token 2 '{report.tokens[2]}'" in note and len(table) == 5 and list(table.columns)[1:] == ["dense", "moe-8", "dense-wide"]
    assert view.visible is True
    assert f"**Layer 0, token 2 '{report.tokens[2]}'** (moe-8). The rule:" in steps
    assert "**Layer 3, token 2" in compare.on_pin(report, 2, 3)[-1]  # the layer slider chooses the layer shown
    probs = [float(cell.rsplit(" ", 1)[1].rstrip("%")) for cell in table["moe-8"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 100.0


def test_a_new_analysis_refreshes_the_pin_or_drops_one_beyond_the_text(report):
    position, note, view, figure, table, steps = compare.on_repin(report, 2)  # same position, recomputed for this report
    assert isinstance(position, type(gr.skip())) and f"Token 2 '{report.tokens[2]}'" in note and view.visible is True
    assert len(table) == 5
    position, note, view, *_ = compare.on_repin(report, len(report.tokens))  # the new text is shorter
    assert position == -1 and view.visible is False and "Click a token" in note
    assert compare.on_repin(None, 2)[0] == -1


def test_every_page_text_exists_in_english_and_russian():
    from page.common import STRINGS, t

    assert STRINGS["en"].keys() == STRINGS["ru"].keys() and len(STRINGS["en"]) > 25
    assert (STRINGS["en"]["LANGUAGE_CODE"], STRINGS["ru"]["LANGUAGE_CODE"]) == ("en", "ru")  # the page script's marker
    for key, text in STRINGS["ru"].items():
        if key == "LANGUAGE_CODE":
            continue
        assert text.strip() and text != STRINGS["en"][key], key  # translated, not copied
        assert any("\u0400" <= ch <= "\u04ff" for ch in text), key  # in Russian
    with pytest.raises(KeyError):
        t("NO_SUCH_TEXT")


def test_the_numbers_in_the_static_page_text_match_the_shipped_models():
    from models.params import count_params
    from models.zoo import SPECS
    from page.common import STRINGS

    active = count_params(SPECS["moe-8"].config).active.total
    assert f"({active / 1e6:.1f} M active parameters)" in STRINGS["en"]["COMPARE"]
    assert f"({active / 1e6:.1f} M активных параметров)".replace(".", ",") in STRINGS["ru"]["COMPARE"]
    assert "moe-16 were trained with 2, the fine-grained moe-32 with 8" in STRINGS["en"]["CONTROLS_HELP"]
    assert [SPECS[n].config.top_k for n in ("moe-4", "moe-8", "moe-16", "moe-32")] == [2, 2, 2, 8]
    from models.params import config_flops
    wide = config_flops(SPECS["dense-wide"].config, 256) / config_flops(SPECS["dense"].config, 256)
    assert f"about {wide:.1f} x the FLOPs" in STRINGS["en"]["TRAINING_CURVES"]
    assert f"примерно в {wide:.1f} раза".replace(".", ",") in STRINGS["ru"]["TRAINING_CURVES"]


def test_every_control_label_and_button_has_its_russian():
    import re
    from pathlib import Path
    from text.ru import PHRASES as LABELS
    used = {m for p in Path(__file__).resolve().parents[1].glob("page/*.py") for m in re.findall(r'\bl\("([^"]+)"\)', p.read_text())}
    used |= {"MoE model", "Dense twin (same tokenizer)"}  # the model chooser's two labels
    assert len(used) > 80 and used <= set(LABELS), used - set(LABELS)
    assert all(ru.strip() for ru in LABELS.values())
    assert not re.search(r'label="', "".join(p.read_text() for p in Path(__file__).resolve().parents[1].glob("page/*.py")))


def test_a_timing_of_an_old_analysis_never_replaces_a_newer_one_or_a_cleared_text():
    from types import SimpleNamespace

    mine, other = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    old = compare.on_analyze(TEXT, 8, 2, 0, 0, 0, 0, request=mine)[0]
    compare.on_analyze("  ", 8, 2, 0, 0, 0, 0, request=mine)  # the reader cleared the text
    assert all(isinstance(out, type(gr.skip())) for out in compare.on_measure(old, request=mine))
    newer = compare.on_analyze(TEXT + " more", 8, 2, 0, 0, 0, 0, request=mine)[0]
    assert all(isinstance(out, type(gr.skip())) for out in compare.on_measure(old, request=mine))
    assert compare.LATEST.is_latest(mine, newer) and not compare.LATEST.is_latest(mine, old)
    assert compare.LATEST.is_latest(other, old)  # another reader's session is not touched


def test_training_curves_put_each_member_against_tokens_and_training_flops():
    import math
    from types import SimpleNamespace

    from viz.comparison_views import training_curves_figure

    card = {"context": 256, "members": [{"name": "dense", "batch": 16, "train_flops_per_token": 3e6},
                                        {"name": "moe-8", "batch": 16, "train_flops_per_token": 3.1e6}]}
    rows = [{"step": 249, "held_out_loss": 4.0}, {"step": 250, "held_out_loss": math.nan}, {"step": 499, "held_out_loss": 3.5}]
    fig = training_curves_figure(card, {"dense": SimpleNamespace(rows=rows)})  # moe-8 has no log: left out
    by_tokens, by_flops = fig.data
    assert list(by_tokens.x) == [250 * 16 * 256, 500 * 16 * 256] and list(by_tokens.y) == [4.0, 3.5]
    assert list(by_flops.x) == [250 * 16 * 256 * 3e6, 500 * 16 * 256 * 3e6]
    moe_rows = [{"step": 249, "held_out_loss": 3.9}, {"step": 499, "held_out_loss": 3.45}, {"step": 749, "held_out_loss": 3.3}]
    card["members"][0]["seeds"] = {1: 3.50, 2: 3.48}
    fig = training_curves_figure(card, {"dense": SimpleNamespace(rows=rows), "moe-8": SimpleNamespace(rows=moe_rows)})
    gap = fig.data[-1]  # moe-8 minus dense at the steps both logged
    assert list(gap.x) == [250 * 16 * 256, 500 * 16 * 256] and [round(y, 6) for y in gap.y] == [-0.1, -0.05]
    (band,) = [shape for shape in fig.layout.shapes if shape.type == "rect"]
    assert math.isclose(band.y1, 0.0141421, rel_tol=1e-4) and math.isclose(band.y0, -band.y1)  # dense's seed std


def test_markdown_tables_escape_cells_and_keep_every_row():
    import pandas as pd

    from viz.tables import markdown_table

    text = markdown_table(pd.DataFrame({"a": ["x|y", "two\nlines"], "b": [1, 2.5]}), "Caption")
    assert text.splitlines() == ["**Caption**", "", "| a | b |", "|---|---|", "| x\\|y | 1.0 |", "| two lines | 2.5 |"]


def test_long_chart_titles_are_broken_into_lines_short_ones_kept():
    from viz import wrapped

    title = "Which experts each domain uses, layer 3 (colour: share / the expert's share over all domains; pooled shares)"
    lines = wrapped(title).split("<br>")
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines) and " ".join(lines) == title
    assert wrapped("Short title") == "Short title"
