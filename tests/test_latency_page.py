"""The Latency lab tab's handler: a measurement at a small scale, and bad input as a clear message."""
import gradio as gr
import pytest

from page.latency import on_run


def no_progress(*args, **kwargs):
    return None


def test_a_small_measurement_returns_the_note_the_departures_and_four_charts():
    note, speedup, decode, prefill, roofline, charts = on_run(128, 128, 4, 2, [1, 2], [16], "cpu", progress=no_progress)
    assert note.startswith("Measured on cpu") and "**Batch 1**" in note and "GB/s" in note
    assert [t.name for t in speedup.data][:2] == ["measured (dense-total / fastest MoE backend)",
                                                  "memory-bound ideal: E / E(1-((E-K)/E)^B)"]
    assert list(speedup.data[0].x) == [1, 2]
    assert {t.name for t in decode.data} >= {"dense-active", "dense-total", "moe-loop", "moe-sorted", "moe-grouped"}
    assert list(prefill.data[0].x) == [16] and roofline.data and charts.visible  # hidden until measured


@pytest.mark.parametrize("args,message", [
    ((128, 128, 4, 2, [], [16], "cpu"), "at least one batch size"),
    ((128, 128, 4, 2, [1], [16], "tpu"), "device must be one of"),
    ((128, 128, 4, 5, [1], [16], "cpu"), r"top-K must be an integer between 1 and the number of experts \(4\)"),
    ((8, 128, 4, 2, [1], [16], "cpu"), "d_model 16-8192"),
    ((4096, 4096, 32, 2, [1], [16], "cpu"), "would take 6.4 GB"),  # refused before any weight is allocated
])
def test_bad_settings_get_a_clear_message(args, message):
    with pytest.raises(gr.Error, match=message):
        on_run(*args, progress=no_progress)
