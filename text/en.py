"""The page's explanatory text in English; text/ru.py holds the same keys in Russian (and PHRASES: every short phrase
the page shows, keyed by its English text)."""

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
At the zoo's tiny size (1.6 M active parameters) the router's bookkeeping can cost more than the weights
it saves reading, so here the MoE may well be *slower* (the timing above says whether it is on this
machine): the **Latency lab** tab measures the same layers at realistic widths, where the saving wins. Perplexity is exp(mean loss) on this text: lower means the model
predicted it better."""

CONTROLS_HELP = """**top-K**: experts per token (moe-4, moe-8 and moe-16 were trained with 2, the fine-grained moe-32 with 8;
choosing a model starts it at its own). **Capacity factor**: 0 = no limit;
small values drop tokens. **Router noise**: Gaussian noise (this std) added to the router's scores,
with a fixed seed, to see how fragile the routing is."""

SCALE = """### How big are real MoE models, and how much of them runs per token?
Every number here is computed from the model's published architecture (its `config.json`), not quoted.
**Active** parameters are those one token's forward pass uses; authors count them differently (with or
without the input embedding and the output head), so each convention is shown, and the one the authors
used where it is known. The last chart shows why batching erodes MoE's advantage when decoding: with
more tokens per step, more experts' weights must be read from memory. A model whose architecture was
never published (GPT-4) is listed as such, with nothing invented."""

PROBLEMS = """### Problems of MoE, reproduced
Keeping only the top-K experts of the router's softmax *is* the sparsity: the other experts' weights are
set to zero (renormalising over the kept K is a softmax over their scores alone, a masked softmax).
Nothing then forces the router to share the work. Early in training a few experts get slightly better,
the router sends them more tokens, they improve further, and the rest starve: **load imbalance**, and at
worst **expert collapse** (experts that receive almost no tokens and stop learning). The fixes shown
here: a **load-balancing loss** (penalise uneven load), **noisy routing** (random exploration of other
experts), **bias balancing** (DeepSeek-V3: nudge a per-expert bias up when an expert is underused,
without a loss) and **capacity limits** (an expert takes at most a fixed number of tokens; the overflow
is dropped). The **router z-loss** is shown too, but it is a stability fix (ST-MoE: it keeps router
scores small), not a balancing one."""

RECORDED = """**Recorded training runs.** The same 8-expert model and data, trained with each method twice (two
seeds: different initial weights and batch order) by `python -m training.balancing --train`; the logs ship
with the app. Variants that change one thing at a time separate the effects: noise without the aux loss,
top-1 alone, a capacity limit without the aux loss. The collapse probe trains top-1 without balancing at
three times the learning rate. Curves show the first seed's run; the table averages both."""

CAPACITY = """### Capacity limits on your own text
Each expert takes at most capacity_factor × tokens × K / E tokens of this text (8-expert model); later
tokens that chose a full expert are **dropped** for that expert (struck out and hatched when all their
experts were full) and skip the FFN. The chart shows what dropping costs in per-token loss."""

STEPS = """**How the shown layer routed this token, step by step** (the layer slider above chooses the layer): the
router's logit for every expert, the scores the rule ranks, the experts it chose, their gate weights, and what
each chosen expert (and a shared expert, where the model has one) adds to the token's residual stream. A real
model loaded with `--model` shows its own family's rule."""

DEVICES = """### Experts on different devices: the busiest one sets the pace (measured, on this machine)
Large MoE models spread their experts over devices (expert parallelism, as DeepSeek-V3, vLLM and Megatron-Core
do). Every device routes its own tokens, sends each token's row to the device holding its expert (an
**all-to-all**: the *dispatch*), the experts run (*compute*), and the results come back in a second
all-to-all (the *combine*). A device whose experts got more tokens finishes last, and the others wait for it
in the combine: the **straggler** sets the step time. Here one layer of the chosen MoE reads your text, the
first half of its tokens on rank 0 and the rest on rank 1 (two processes, one core each, talking through
torch.distributed), and the step is timed as routed and with each fix: a **placement** that balances this
text's load (greedy: the most loaded expert first, to the least loaded rank), the **hottest expert copied**
to the other rank (its tokens split between the copies, as DeepSeek's EPLB does) and **capacity limits**
(fewer rows for the busiest expert, paid for in dropped tokens). The realistic width (D 4096, experts 1024
wide, random weights with your text's routing) shows the cost; at the zoo's own width (D 128) the messages'
fixed cost is as large as the experts' work."""

LIVE = """### Watch a router learn (live, on this machine)
Trains a tiny 8-expert MoE (2 layers, width 64) from scratch on a slice of the training text, for the
chosen balancing method, and draws each expert's share as it learns; the status line shows the speed
measured on this machine and the time left. Press Stop at any time."""

SPECIALISATION = """### What do the experts specialise in?
Computed on the held-out text of each domain (never trained on). Every statistic stands beside a
baseline, because a number alone can mislead: an expert that gets 30% of the Russian tokens matters only
if it does not get 30% of everything (colours compare each domain with the expert's share over all
domains); neighbouring tokens that share an expert tell us about context only if shuffling the same
tokens breaks the pattern. **Load-implied** = the repeat rate if every token picked its expert
independently from the measured loads (Σp²). **Token-identity lookup** = a router that only looks at which
token it is: whatever it reproduces is explained by the tokens, not by meaning."""

TEXT_SPECIALISATION = """**Specialisation on this text** (the chosen MoE): neighbouring tokens sharing an expert
vs the baselines, and the tokens each expert took most often in the chosen layer."""

LATENCY = """### Latency lab: why can more parameters run faster?
Decoding one token at a time is limited by **reading weights from memory**, not by arithmetic. A dense
layer reads all of its weights for every step; an MoE layer reads only the K experts the router chose.
So at batch 1 an MoE with E experts can be up to E/K times faster than a dense layer of the same total size.
With more sequences decoded together, their tokens pick different experts, more of them must be read,
and the advantage shrinks toward 1: the dashed line is the expected number of experts read,
E·(1-((E-K)/E)^B). With still more tokens per call the dense layer stops waiting for memory and waits
for arithmetic instead; then the MoE's advantage climbs back toward the FLOP ratio E/K (the dash-dotted
roofline: each call takes the longer of reading its weights and doing its FLOPs, with the bandwidth and
FLOP/s measured on this machine). Measure it here (a few seconds to a minute, depending on the scale);
caches are flushed before every call, as in a real model where other layers' weights pass through them."""

LATENCY_SHIPPED = """#### The last full benchmark run (`python -m benchmarks.latency`)"""

INTERVENTIONS = """### Interventions: change the routing and measure what it costs
Our routing is set per call, so we can switch experts off, force tokens to chosen experts or change
top-K, and measure the loss on **your** text beside the dense models. Loss is next-token cross-entropy in
nats per token (lower is better; perplexity = e^loss); a change of +0.1 nats/token means the model finds
the text about 10% less predictable. On short texts a few tokens decide the mean: look at which tokens
moved, not only the mean."""

SWEEP = """**How many experts does this text need?** The MoE's loss at every top-K from 1 to E (it was trained
with 2) and the dense twins as dashed lines, recomputed on every change; the button adds decode speed
measured here per K (median of 3, min-max bars). Practitioners run real MoEs with fewer experts per token
for speed (llama.cpp runs Qwen3-30B-A3B with half its experts); this shows what that costs on your text."""

ABLATION = """**Ablation.** Switch experts off in one layer or all. *Re-route*: tokens that chose them take their
next-best expert (the router's distribution is unchanged; llama.cpp's `--omit-experts`). *Zero*: the
routing is unchanged and the expert's output is dropped (the token keeps its other expert). For the zoo
the chosen ablation is recomputed whenever the text, model or top-K changes."""

IMPORTANCE = """**Expert importance on this text**: the mean loss increase when one expert alone is switched off
(re-routed), for every layer and expert, all computed at once as rows of one batch. Red cells are experts
this text relies on; hover for the tokens each one hurts most. Values near 0 (either sign) mean the
next-best expert does as well."""

FORCING = """**Forcing.** Route a span of token positions (or all of them) to exactly the experts you choose
(as many as top-K), in one layer or all, and see the loss change (for the zoo recomputed on every change,
like the ablation)."""

EXPERT_CACHE = """#### Expert cache: which experts to keep in fast memory
When an MoE does not fit in fast memory (GPU memory; or RAM beside an SSD), runtimes keep the experts used
most and fetch the others per token. The first chart counts, on your text, how many expert look-ups the N
most-used experts of each layer would serve; the dashed line is what uniform routing would give (N/E).
The second applies that to a real model's sizes from its config: decode speed at batch 1 when every token
reads its weights from fast memory and fetches its cold experts from slow memory (a fixed hot set, no
reuse between tokens). For a preset the skewed curve borrows the zoo model's measured skew at the same
fraction of cached experts, so read it as "if it routed like ours"; a real MoE loaded with `--model` is
measured itself, with its own sizes."""

EMPTY_TEXT = """**Paste some text to analyse.** The text is empty or only whitespace, so there is nothing to route:
the results of the previous text have been cleared."""

GLOSSARY = """| term | meaning |
|---|---|
| expert | one of the MoE layer's feed-forward networks; a router picks **top-K** of them for every token |
| total parameters | every weight the model stores (memory) |
| active parameters | the weights one token's forward pass uses: everything except the experts it was not routed to (compute per token) |
| FLOPs per token | floating-point operations of one token's forward pass (2 per multiply-add) |
| nats, perplexity | loss is measured in nats (natural-log units) per token; perplexity = e^loss, the number of equally likely next tokens the model is as unsure as |
| bits per byte | the same loss per byte of text (in bits), fair between tokenizers |
| 95% interval | bootstrap interval of a mean over this text's tokens: where the mean would land on similar text |
| prefill, decode | prefill = one pass over the whole prompt; decode = generating one token at a time, reusing the **KV cache** (the attention keys and values of earlier tokens) |
| median, IQR | the middle of repeated timings, and the range of their middle half (interquartile range) |
| memory-bound, roofline | a call is memory-bound when reading its weights takes longer than its arithmetic; the roofline model takes the longer of the two |
| dense-active, dense-total | dense layers as wide as the MoE's active experts (same compute) and as all its experts (same parameters) |
| moe-loop, moe-sorted, moe-grouped | the same MoE layer computed three ways: a loop over experts, one product per expert after sorting tokens, and one grouped kernel |
| hf-mixtral | transformers' Mixtral MoE block with the same weights, the independent reference |
| load, load CV, dead expert | load = share of assignments an expert gets; CV = their spread (std / mean, 0 = even); a dead expert gets under 10% of the even share |
| aux loss, z-loss | the load-balancing loss (pushes the load toward even); the router z-loss (keeps router logits small: a stability fix, not a balancing one) |
| capacity factor | how many tokens an expert may take, relative to an even share; the overflow is dropped |
| bf16 | bfloat16, 16-bit floating point with float32's range: half the bytes to read |"""

PIN_HELP = """**Click a token** in the strip above to pin it: its router distribution over every expert in
every layer, and each model's five most likely next tokens at that point."""

GENERATION = """**The models write.** Each model continues your text, one token at a time with its KV cache: greedy
(temperature 0: always the most likely token) or sampled (the seed shown makes it repeatable). The MoE's
tokens are coloured by their first-choice expert in the layer chosen above; the speed is measured while
each model generates (the prompt's prefill included). These are **tiny models** trained on a small
corpus: expect fragments that look like the training text, not sense."""

TAB_COMPARE = "Dense vs MoE on your text"
TAB_INTERVENTIONS = "Interventions"
TAB_LATENCY = "Latency lab"
TAB_PROBLEMS = "Problems of MoE"
TAB_SPECIALISATION = "Specialisation"
TAB_SCALE = "Scale: real models"
GLOSSARY_TITLE = "What the terms mean"
MODEL_CARD_TITLE = "About these models (model card)"

TRAINING_CURVES = """**Training curves**: each member's loss on the held-out split, measured every 250 training steps, against
the tokens it had seen and against the FLOPs its training had cost (3 x forward FLOPs per token: the backward
pass costs about twice the forward). At equal tokens the MoEs spent the same FLOPs per token as `dense`
(their active width is the same), so where an MoE curve runs below `dense` it is better at the same
compute; `dense-wide` pays about 2.3 x the FLOPs per token for its width. The third panel shows each member's
loss minus `dense`'s at the same step, so the gaps are readable; the grey band (once other seeds are trained) is
the largest seed-to-seed standard deviation of a final loss: a gap inside it may be luck."""
