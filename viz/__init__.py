"""Pure views: reports, training logs and lab rows -> plotly Figure / pandas DataFrame / HTML; the page's text.

Never runs a model, trains, measures, reads files or imports Gradio or training code.

Every chart uses one plotly template, set here once for the package: transparent backgrounds and mid-grey
text and grid, readable in the page's light and dark themes."""
import textwrap

import plotly.graph_objects as go
import plotly.io as pio

# merged with plotly's own once, here: a default named "plotly+moe_page" is merged again for every figure (12 ms each)
pio.templates["moe_page"] = pio.templates.merge_templates(pio.templates["plotly"], go.layout.Template(layout=dict(
    paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(128,128,128,0.08)", font=dict(color="#8a8a8a"),
    xaxis=dict(gridcolor="rgba(128,128,128,0.25)", zerolinecolor="rgba(128,128,128,0.4)"),
    yaxis=dict(gridcolor="rgba(128,128,128,0.25)", zerolinecolor="rgba(128,128,128,0.4)"))))
pio.templates.default = "moe_page"


HALF = 60  # characters per title line in a chart half the page wide


def wrapped(title: str, width: int = 80) -> str:
    """A chart title broken into lines of at most `width` characters (plotly never wraps a title, so a long
    one ran off a narrow page)."""
    return "<br>".join(textwrap.wrap(title, width, break_long_words=False)) or title
