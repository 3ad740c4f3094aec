"""Pure views: AnalysisReport -> plotly Figure / pandas DataFrame / HTML. No model math, no Gradio."""
