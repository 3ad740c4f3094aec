"""The backend the page, the JSON API, the benchmarks and the tests call: the analysis report of a text
(analysis.py), the timing of models side by side (timing.py, also the project's one timing harness) and
routing specialisation on held-out text or the user's (specialisation.py).

Never imports Gradio, the page or the views, and never trains."""
