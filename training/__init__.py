"""Training: the trainer (train.py; one model or the whole zoo), the balancing runs (balancing.py), the
page's live mini run (live.py) and the one training-log schema, writer and reader (log.py).

Never imports the page, the views or the backend; the page reads logs through log.py."""
