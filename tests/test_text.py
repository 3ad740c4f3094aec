"""The page's phrases in both languages: every phrase the code formats has its Russian with the same
placeholders, the request's language decides which one a view draws, and nothing else changes."""
import ast
import string
from pathlib import Path
from types import SimpleNamespace

import pytest

from text import explanation, language, reading, ru, tr

ROOT = Path(__file__).resolve().parents[1]
FORMATTER = string.Formatter()


def placeholders(template: str) -> list:
    return sorted({(name, spec, conversion) for _, name, spec, conversion in FORMATTER.parse(template) if name is not None})


def literal_phrases() -> dict[str, str]:
    """Every string literal passed to tr() or l() in the project's code -> the file it is in."""
    found = {}
    for path in ROOT.glob("*/*.py"):
        if path.parts[-2] in ("tests", "text"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "l") and node.args:
                arg = node.args[0]
                for value in (arg.body, arg.orelse) if isinstance(arg, ast.IfExp) else (arg,):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.setdefault(value.value, path.name)
    return found


def test_every_phrase_in_the_code_has_its_russian_with_the_same_placeholders():
    phrases = literal_phrases()
    assert len(phrases) > 300
    missing = {p: f for p, f in phrases.items() if p not in ru.PHRASES}
    assert not missing, missing
    for english, russian in ru.PHRASES.items():
        assert russian.strip(), english
        assert placeholders(english) == placeholders(russian), english


def test_phrases_chosen_through_a_variable_have_their_russian_too():
    from backend.analysis import TWIN_ROLES
    from models.params import CONVENTIONS
    from models.zoo import ZOO
    from scale.report import AGREEMENT_RULE
    from training.balancing import VARIANTS
    from viz.comparison_views import COMPONENT_LABELS, SCRIPTS
    from viz.expert_parallel_views import PHASES, ROUTING_NAMES
    from viz.intervention_views import AFFECTED_HEADERS, SWEEP_HEADERS

    chosen = [*TWIN_ROLES.values(), *CONVENTIONS, AGREEMENT_RULE, *COMPONENT_LABELS.values(), *SWEEP_HEADERS,
              *AFFECTED_HEADERS, *(name for name, _, _ in SCRIPTS), *(v.description for v in VARIANTS),
              *(spec.description for spec in ZOO), *(phase for phase, _ in PHASES), *ROUTING_NAMES, "better", "worse", "tie", "english", "russian", "python", "arithmetic"]
    assert [p for p in chosen if p not in ru.PHRASES] == []


def test_a_phrase_reads_the_request_language_and_only_inside_it():
    assert language() == "en" and tr("expert {e}", e=3) == "expert 3"
    with reading("ru"):
        assert language() == "ru" and tr("expert {e}", e=3) == "эксперт 3"
        assert explanation("EMPTY_TEXT").startswith("**Вставьте текст")
        with reading("de"):  # an unsupported language reads English
            assert tr("expert {e}", e=3) == "expert 3"
        assert tr("a phrase nobody translated {x}", x=1) == "a phrase nobody translated 1"
    assert tr("expert {e}", e=3) == "expert 3"


def test_views_and_messages_follow_the_language():
    from backend.analysis import InputError, analyze_text, validate_settings
    from viz.comparison_views import comparison_table
    from viz.routing_views import routing_heatmap

    report = analyze_text("Hello world! Привет, мир!", validate_settings(8, 2, 0, 0, 0))
    assert routing_heatmap(report).layout.title.text == "First-choice expert of every token in every layer"
    assert list(comparison_table(report).columns)[0] == "metric"
    with reading("ru"):
        assert routing_heatmap(report).layout.title.text == "Эксперт первого выбора для каждого токена в каждом слое"
        assert list(comparison_table(report).columns)[0] == "метрика"
        with pytest.raises(InputError, match="Вставьте текст для анализа"):
            analyze_text("   ", validate_settings(8, 2, 0, 0, 0))
        with pytest.raises(InputError, match="top-K: нужно целое число от 1 до числа экспертов"):
            validate_settings(8, 9, 0, 0, 0)
    with pytest.raises(InputError, match="Paste some text"):
        analyze_text("   ", validate_settings(8, 2, 0, 0, 0))


@pytest.mark.parametrize("cookie,header,expected", [
    ("ru", "en-US,en;q=0.9", "ru"),          # the page's setting wins over the browser's header
    (None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
    (None, "de-DE,de;q=0.9,en;q=0.8", "en"),  # first supported language in the header
    ("fr", "", "en"),                         # an unknown cookie is ignored
    (None, "", "en"),
])
def test_the_request_language_comes_from_the_cookie_then_the_header(cookie, header, expected):
    from page.common import request_language

    request = SimpleNamespace(cookies={"moe_lang": cookie} if cookie else {}, headers={"accept-language": header})
    assert request_language(request) == expected
    assert request_language(None) == "en"


def test_every_handler_of_the_page_is_localized_and_keeps_its_signature():
    import inspect

    import app
    from page import compare

    demo = app.build_demo()
    handlers = [f.fn for f in demo.fns.values() if f.fn is not None]
    assert len(handlers) > 60 and all(getattr(fn, "localized", False) for fn in handlers)
    wrapped = next(fn for fn in handlers if fn.__wrapped__ is compare.on_analyze)
    assert inspect.signature(wrapped) == inspect.signature(compare.on_analyze)  # Gradio reads the original's


def test_a_localized_generator_reads_the_language_at_every_step(monkeypatch):
    from gradio.context import LocalContext

    from page.common import localized

    def steps():
        yield tr("expert {e}", e=0)
        yield tr("expert {e}", e=1)

    stream = localized(steps)()
    request = SimpleNamespace(cookies={"moe_lang": "ru"}, headers={})
    LocalContext.request.set(request)
    assert next(stream) == "эксперт 0"
    request.cookies["moe_lang"] = "en"
    assert next(stream) == "expert 1" and list(stream) == []
    LocalContext.request.set(None)


def test_the_shipped_latency_run_reads_the_readers_language():
    """Its verdict and targets are rebuilt from the stored numbers, not shown as the English they were written in."""
    from page.latency import on_shipped

    english = on_shipped()[0]
    assert "batch-1 decode speedup over dense-total" in english
    with reading("ru"):
        russian = on_shipped()[0]
    assert "ускорение decode при батче 1 относительно dense-total" in russian and "matmul ceiling" not in russian
    assert "batch-1 decode" not in russian and ("repetitions of one timing" not in russian)
