"""Data: the multi-domain corpus (build.py), the byte-level BPE tokenizer (tokenizer.py) and the token
streams training and evaluation read (streams.py). Never imports models, training or the page."""
