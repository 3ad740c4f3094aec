"""Pure views: reports, training logs and lab rows -> plotly Figure / pandas DataFrame / HTML; the page's text.

Never runs a model, trains, measures, reads files or imports Gradio or training code."""
