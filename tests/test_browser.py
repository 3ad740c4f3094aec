"""A real browser (Debian's chromium, driven by Playwright) uses the page like a person would."""
import shutil

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 90_000  # generous: CI machines are slow and busy
TEXT = "Hello world! Привет, мир! def f(x): return x + 1"


@pytest.fixture(scope="module")
def browser():
    """One chromium for the module (Playwright's sync API allows one instance per thread)."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector(".token-strip .tok", timeout=60_000)
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = open_page(browser, app_url)
    yield page
    page.close()


def strip(page) -> str:
    return page.inner_html(".token-strip")


ACTIVE_MOE_CELL = "#comparison [data-testid='cell-1-2']"  # row 'active parameters per token', MoE column


def active_params_moe(page) -> str:
    assert page.inner_text("#comparison [data-testid='cell-1-0']") == "active parameters per token"
    return page.inner_text(ACTIVE_MOE_CELL)


def test_paste_text_change_top_k_and_experts(page, tmp_path):
    textbox = page.locator("#input-text textarea")
    textbox.fill(TEXT)
    page.wait_for_function("() => document.querySelector('.token-strip').textContent.includes('Привет')", timeout=TIMEOUT_MS)
    strip_before = strip(page)
    params_before = active_params_moe(page)
    tokens_before = page.locator(".token-strip .tok").count()
    assert tokens_before > 10

    top_k = page.locator("#top-k input[type=number]")
    top_k.fill("1")
    top_k.press("Enter")
    page.wait_for_function(
        "(old) => document.querySelector('.token-strip').innerHTML !== old", arg=strip_before, timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).innerText !== old", arg=[ACTIVE_MOE_CELL, params_before],
        timeout=TIMEOUT_MS,
    )
    params_k1 = active_params_moe(page)
    assert float(params_k1.split()[0]) < float(params_before.split()[0])  # fewer experts per token
    strip_k1 = strip(page)
    assert "expert" in page.get_attribute(".token-strip .tok >> nth=0", "title")

    page.locator("#n-experts label", has_text="16").click()
    page.wait_for_function(
        "(old) => document.querySelector('.token-strip').innerHTML !== old", arg=strip_k1, timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "() => document.querySelector('#comparison').innerText.includes('moe-16')", timeout=TIMEOUT_MS
    )
    assert page.locator(".token-strip .tok").count() == tokens_before  # same text, same tokens
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000


@pytest.mark.parametrize("tab,expect", [
    ("Scale: real models", "46.70 B"),  # Mixtral's total, computed from its config
    ("Specialisation", "tokens most often routed here"),
    ("Problems of MoE", "held-out loss"),
])
def test_other_tabs_render_their_results(page, tab, expect):
    page.get_by_role("tab", name=tab).click()
    page.wait_for_function("(text) => document.body.innerText.includes(text)", arg=expect, timeout=TIMEOUT_MS)
    assert page.locator(".toast-body").count() == 0  # no error message shown


def test_choice_labels_are_not_taken_for_page_texts(page):
    """The browser translates any displayed string equal to an i18n key: a variant named 'capacity' once
    showed the CAPACITY explanation as its label."""
    page.get_by_role("tab", name="Problems of MoE").click()
    page.wait_for_selector("#variants label", timeout=TIMEOUT_MS)
    labels = [label.strip() for label in page.locator("#variants label").all_inner_texts()]
    assert "capacity" in labels and all(len(label) < 40 for label in labels), labels


def test_problems_tab_measures_experts_on_two_processes(page):
    page.get_by_role("tab", name="Problems of MoE").click()
    page.wait_for_function("() => document.body.innerText.includes('Experts on different devices')", timeout=TIMEOUT_MS)
    page.get_by_label("zoo", exact=True).check()
    page.locator("#ep-measure").click()
    page.wait_for_function("() => document.querySelector('#ep-summary').innerText.includes('it is the straggler')",
                           timeout=TIMEOUT_MS)
    summary = page.inner_text("#ep-summary")
    assert "Your text on 2 processes" in summary and "copying expert" in summary
    assert "rank 1: experts" in page.inner_text("body") and page.locator(".toast-body").count() == 0


def test_latency_lab_shows_the_shipped_run_and_measures_here(page):
    page.get_by_role("tab", name="Latency lab").click()
    expect = "Where the decode curve departs from the memory-bound model"
    page.wait_for_function("(text) => document.body.innerText.includes(text)", arg=expect, timeout=TIMEOUT_MS)
    for group, labels in (("#lab-batches", ("4", "16", "64")), ("#lab-tokens", ("256", "1024"))):
        for label in labels:  # keep batch 1 and 16 tokens: a measurement of a few seconds
            page.locator(group).get_by_label(label, exact=True).uncheck()
    page.get_by_role("button", name="Measure").click()
    page.wait_for_function("() => document.body.innerText.includes('Measured on cpu')", timeout=TIMEOUT_MS)
    assert "**Batch 1**" not in page.inner_text("body") and "Batch 1" in page.inner_text("body")  # rendered markdown
    assert page.locator(".toast-body").count() == 0


def test_interventions_tab_shows_importance_and_switches_an_expert_off(page):
    page.get_by_role("tab", name="Interventions").click()
    page.wait_for_function("() => document.body.innerText.includes('Expert importance on this text: loss increase')",
                           timeout=TIMEOUT_MS)
    for shown in ("expert 0 switched off in every layer", "forced to experts 0, 1", "moe-8, top-8"):  # the sweep table
        page.wait_for_function("(text) => document.body.innerText.includes(text)", arg=shown, timeout=TIMEOUT_MS)
    page.locator("#iv-ablate label", has_text="3").click()
    page.get_by_role("button", name="Switch off").click()
    page.wait_for_function("() => document.body.innerText.includes('experts 0, 3 switched off in every layer')",
                           timeout=TIMEOUT_MS)
    assert "nats/token" in page.inner_text("body") and page.locator(".toast-body").count() == 0


def test_clicking_a_token_pins_it_with_the_models_predictions(page):
    page.get_by_role("tab", name="Dense vs MoE on your text").click()
    page.wait_for_selector(".token-strip .tok", timeout=TIMEOUT_MS)
    page.locator(".token-strip .tok").nth(2).click()
    page.wait_for_function("() => document.body.innerText.includes('what each model expects next')", timeout=TIMEOUT_MS)
    table = page.locator("#pin-predictions").inner_text()
    assert "moe-" in table and "dense-wide" in table and "%" in table
    assert page.locator(".toast-body").count() == 0


def test_live_training_starts_stops_and_starts_again(page):
    page.get_by_role("tab", name="Problems of MoE").click()
    steps = page.locator("#live-steps input[type=number]")
    steps.fill("400")
    steps.press("Enter")
    train, status = page.get_by_role("button", name="Train"), "document.querySelector('#live-status').innerText"
    before = ""
    for attempt in range(10):  # Train, Stop, Train, ... ten times: every run must start
        train.click()
        try:
            page.wait_for_function(f"(old) => {status} !== old && {status}.includes(' of 400, loss')", arg=before,
                                   timeout=TIMEOUT_MS)
        except Exception:
            raise AssertionError(f"run {attempt + 1} did not start: status {page.evaluate(f'() => {status}')!r}, "
                                 f"Train disabled: {train.is_disabled()}") from None
        assert train.is_disabled()  # a second press cannot queue another run behind this one
        page.get_by_role("button", name="Stop").click()
        page.wait_for_function("() => !document.querySelector('#live-train').disabled", timeout=TIMEOUT_MS)
        page.wait_for_function(f"() => {status}.includes('stopped at step')", timeout=TIMEOUT_MS)
        before = page.evaluate(f"() => {status}")
    assert page.locator(".toast-body").count() == 0  # stopping is not an error


def open_with_real_moe(browser, url: str, moe: str):
    """The page with the loaded real MoE `moe` chosen, once its routing replaced the zoo's."""
    page = open_page(browser, url)
    zoo_strip = strip(page)
    page.locator("#model input").click()
    page.get_by_role("option", name=moe, exact=False).click()
    page.wait_for_function("(name) => document.querySelector('#comparison').innerText.includes(name)", arg=moe,
                           timeout=TIMEOUT_MS)
    page.wait_for_function("(old) => document.querySelector('.token-strip').innerHTML !== old", arg=zoo_strip,
                           timeout=TIMEOUT_MS)
    return page


def test_a_loaded_real_moe_shows_its_routing(browser, real_app_url, real_checkpoints, tmp_path):
    page = open_with_real_moe(browser, real_app_url, real_checkpoints["olmoe"].name)
    assert "expert" in page.get_attribute(".token-strip .tok >> nth=0", "title")
    assert "Error" not in page.inner_text("#status")
    page.screenshot(path=str(tmp_path / "real.png"), full_page=True)
    page.close()


def test_a_pinned_token_of_a_deepseek_v3_model_shows_its_rule_step_by_step(browser, real_app_url, real_checkpoints, tmp_path):
    page = open_with_real_moe(browser, real_app_url, real_checkpoints["deepseek_v3"].name)
    page.locator(".token-strip .tok").nth(2).click()  # while the page times the model in another request
    page.wait_for_function("() => document.querySelector('#pin-steps')?.innerText.includes('sigmoid score per expert')",
                           timeout=TIMEOUT_MS)
    steps = page.inner_text("#pin-steps")
    assert "only the 2 best of 4 groups of 2 experts are eligible" in steps and "times 2.5" in steps
    assert "the shared expert: |contribution|" in steps and page.locator(".toast-body").count() == 0
    page.screenshot(path=str(tmp_path / "steps.png"), full_page=True)
    page.close()


def test_emoji_and_cjk_text_show_readable_characters(page, tmp_path):
    page.get_by_role("tab", name="Dense vs MoE on your text").click()
    page.locator("#input-text textarea").fill("Tea 🍵 and 日本語 text, café.")
    page.wait_for_function("() => document.querySelector('.token-strip').textContent.includes('日')", timeout=TIMEOUT_MS)
    shown = page.inner_text(".token-strip")
    assert "\ufffd" not in shown and "🍵" in shown and "é" in shown
    assert "\ufffd" not in page.inner_text("#status") and "never occur in the training text" in page.inner_text("#status")
    page.screenshot(path=str(tmp_path / "emoji_cjk.png"), full_page=True)


def test_clearing_the_text_clears_the_previous_results(page):
    page.get_by_role("tab", name="Dense vs MoE on your text").click()
    page.locator("#input-text textarea").fill(TEXT)
    page.wait_for_function("() => document.querySelector('.token-strip').textContent.includes('Привет')", timeout=TIMEOUT_MS)
    page.locator("#input-text textarea").fill("")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Paste some text')", timeout=TIMEOUT_MS)
    assert page.locator("#token-strip .tok").count() == 0  # no stale strip under the message
    assert "moe-8" not in page.inner_text("#comparison") and page.locator(".toast-body").count() == 0


def test_typing_a_config_in_the_scale_editor_keeps_the_presets_results(page, tmp_path):
    page.get_by_role("tab", name="Scale: real models").click()
    page.wait_for_function("() => document.querySelector('#scale-table').innerText.includes('46.70 B')", timeout=TIMEOUT_MS)
    editor = page.locator(".cm-content").first
    editor.click()
    page.keyboard.type('{"model_type": "mixtral", "hidden_size": 40', delay=15)  # half typed: not a config yet
    page.wait_for_function("() => document.querySelector('#pasted-status').innerText.includes('cannot be read yet')",
                           timeout=TIMEOUT_MS)
    assert page.locator(".toast-body").count() == 0  # one message beside the editor, no error per keystroke
    assert "46.70 B" in page.inner_text("#scale-table")  # the presets' results stay
    page.screenshot(path=str(tmp_path / "scale_typing.png"), full_page=True)


def test_the_page_follows_the_browsers_language_and_the_switch(browser, app_url, tmp_path):
    page = browser.new_page(locale="ru-RU", viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_function("() => document.querySelector('#comparison')?.innerText.includes('метрика')", timeout=TIMEOUT_MS)
    assert "проанализировано моделью" in page.inner_text("#status")  # computed per request, in Russian
    assert page.get_attribute(".token-strip .tok >> nth=0", "title").startswith("токен 0")
    assert "Плотная модель против смеси экспертов" in page.inner_text("body")  # static text through Gradio's i18n
    page.screenshot(path=str(tmp_path / "russian.png"), full_page=True)
    page.get_by_text("Настройки").click()  # Gradio's settings: switch the page to English
    page.get_by_role("combobox", name="Language").click()
    page.get_by_role("option", name="English").click()
    page.wait_for_function("() => document.querySelector('#comparison').innerText.includes('metric')", timeout=TIMEOUT_MS)
    assert "tokens analysed by" in page.inner_text("#status") and page.evaluate("document.cookie") == "moe_lang=en"
    assert page.locator(".toast-body").count() == 0
    page.close()


def test_a_cookie_from_an_earlier_visit_in_another_language_is_corrected(browser, app_url):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "moe_lang", "value": "en", "url": app_url}])  # the last visit read English
    page = context.new_page()
    page.goto(app_url)  # Gradio shows Russian (the browser's language): the results must follow it
    page.wait_for_function("() => document.querySelector('#comparison')?.innerText.includes('метрика')", timeout=TIMEOUT_MS)
    assert page.evaluate("document.cookie") == "moe_lang=ru" and page.locator(".toast-body").count() == 0
    context.close()
