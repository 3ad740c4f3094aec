"""The page's explanatory text (English)."""

INTRO = """# Dense vs Mixture-of-Experts, side by side
Paste any text. Three small language models, **trained by this project** on English, Russian, Python
code and arithmetic, read it at once: a **dense** transformer, a **Mixture-of-Experts (MoE)** model with
the *same active parameters per token*, and a dense model with the *same total parameters* as the
8-expert MoE. Move any control and everything below is recomputed."""

ROUTING = """### Which experts does each token use?
In an MoE layer the one feed-forward network (FFN) of a transformer block is replaced by several
**experts** (FFNs of their own) and a **router**: a small linear layer that scores every expert for
every token, keeps the **top-K**, and mixes their outputs with the router's weights (the *gate weights*).
Each colour below is one expert; hover a token to see its top-K experts and gate weights in the chosen
layer. A struck-out, hatched token was **dropped**: its chosen experts were already full (capacity limit),
so it skipped the FFN and went on through the residual connection unchanged."""

HEATMAP = """The same choice for every layer at once: rows are layers, columns are tokens. Look for runs of one
colour (neighbouring tokens often share an expert) and for colours that follow the language or the code."""

LOAD = """**Expert load**: the share of this text's tokens that chose each expert. With perfect balance every
expert gets K/E of the tokens (dashed line). A capacity factor caps each expert at
capacity_factor × tokens × K / E assignments (red line); the rest are dropped."""

COMPARE = """### Big brain, small running cost
The MoE stores many experts but each token runs through only K of them, so its **active** parameters
(and FLOPs) per token match the small dense model while its **total** parameters approach the wide one.
Latency is **measured here, on this machine**, on your text: prefill is one forward pass over the text,
decode generates tokens one at a time with a KV cache. Decoding a single sequence reads only the
chosen experts' weights, which is why an MoE can run faster than a dense model of the same total size.
Perplexity is exp(mean loss) on this text: lower means the model predicted it better."""

CONTROLS_HELP = """**top-K**: experts per token (the models were trained with 2). **Capacity factor**: 0 = no limit;
small values drop tokens. **Router noise**: Gaussian noise (this std) added to the router's scores,
with a fixed seed, to see how fragile the routing is."""

SCALE = """### How big are real MoE models, and how much of them runs per token?
Every number here is computed from the model's published architecture (its `config.json`), not quoted.
**Active** parameters are those one token's forward pass uses; authors count them differently (with or
without the input embedding and the output head), so each convention is shown, and the one the authors
used where it is known. The last chart shows why batching erodes MoE's advantage when decoding: with
more tokens per step, more experts' weights must be read from memory. A model whose architecture was
never published (GPT-4) is listed as such, with nothing invented."""
