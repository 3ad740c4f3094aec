"""The latency lab: why an MoE layer runs faster than a dense layer of the same total size, and when it
stops, measured side by side on random weights at a chosen scale. variants.py (what is timed),
measure.py (how), roofline.py (what it should be), run.py (the one entry, for the tab and the benchmark).

Never imports Gradio, the page or the views; every timing goes through backend/timing.py."""
