"""Interpolated Kneser-Ney n-gram models (orders 1-3) on token ids: the baseline any neural model here
must beat. Counted on the training split, scored on exactly the targets the models are scored on (the
held-out windows of models' context length, each target predicted from at most the n-1 tokens before it
in its window).

Interpolated Kneser-Ney with one absolute discount D = 0.75 per order (Chen & Goodman 1998):
    P(w | u v) = max(c(u v w) - D, 0) / c(u v .) + D N(u v .) / c(u v .) * P2(w | v)
    P2(w | v)  = max(N(. v w) - D, 0) / N(. v .) + D N'(v .) / N(. v .) * P1(w)      (continuation counts)
    P1(w)      = max(N(. w) - D, 0) / N(. .) + D |{w: N(. w) > 0}| / N(. .) / V
with N(...) the number of distinct histories, and full back-off where a history was never seen.
(The bigram model uses raw counts at its top order.)
"""
from __future__ import annotations

import math
from collections import Counter

import torch

DISCOUNT = 0.75


class KneserNey:
    def __init__(self, stream: list[int], order: int, vocab: int):
        if order not in (1, 2, 3):
            raise ValueError("order must be 1, 2 or 3")
        self.order, self.vocab, d = order, vocab, DISCOUNT
        bigrams = Counter(zip(stream, stream[1:]))
        # continuation counts: distinct left neighbours of w, and of the pair (v, w)
        self.cont1 = Counter(w for (_, w) in bigrams)
        self.cont1_total = len(bigrams)
        self.p1_floor = d * len(self.cont1) / self.cont1_total / vocab
        if order == 1:
            self.unigram = Counter(stream)
            self.total = len(stream)
        if order >= 2:
            self.bigram = bigrams
            self.after = Counter(v for (v, _) in bigrams)  # distinct words after v (N(v .))
            self.count_v = Counter(stream[:-1])  # c(v .)
        if order == 3:
            trigrams = Counter(zip(stream, stream[1:], stream[2:]))
            self.trigram = trigrams
            self.cont2 = Counter((v, w) for (_, v, w) in trigrams)  # N(. v w)
            self.cont2_v = Counter(v for (_, v, _) in trigrams)  # N(. v .) summed over w
            self.cont2_after = Counter(v for (v, _) in self.cont2)  # N'(v .): distinct w with N(. v w) > 0
            self.count_uv: Counter = Counter()  # c(u v .)
            for (u, v, _), c in trigrams.items():
                self.count_uv[(u, v)] += c
            self.after_uv = Counter(key[:2] for key in trigrams)  # N(u v .): distinct w after (u, v)

    def p1(self, w: int) -> float:
        return max(self.cont1[w] - DISCOUNT, 0) / self.cont1_total + self.p1_floor

    def p2_continuation(self, v: int, w: int) -> float:
        total = self.cont2_v[v]
        if not total:
            return self.p1(w)
        return (max(self.cont2[(v, w)] - DISCOUNT, 0) + DISCOUNT * self.cont2_after[v] * self.p1(w)) / total

    def p2_counts(self, v: int, w: int) -> float:
        total = self.count_v[v]
        if not total:
            return self.p1(w)
        return (max(self.bigram[(v, w)] - DISCOUNT, 0) + DISCOUNT * self.after[v] * self.p1(w)) / total

    def prob(self, history: tuple[int, ...], w: int) -> float:
        if self.order == 1:
            return (self.unigram[w] + 1) / (self.total + self.vocab)  # add-one: every token gets some mass
        if not history:
            return self.p1(w)
        if self.order == 2 or len(history) < 2:  # a bigram is the highest order available: raw counts
            return self.p2_counts(history[-1], w)
        u, v = history[-2], history[-1]
        total = self.count_uv[(u, v)]
        if not total:
            return self.p2_continuation(v, w)
        return (max(self.trigram[(u, v, w)] - DISCOUNT, 0) + DISCOUNT * self.after_uv[(u, v)] * self.p2_continuation(v, w)) / total

    def window_loss(self, windows: torch.Tensor) -> tuple[float, int]:
        """windows (n, T+1): summed loss (nats) over every target 1..T, predicted from <= order-1 tokens of its window."""
        total, count = 0.0, 0
        for row in windows.tolist():
            for i in range(1, len(row)):
                total -= math.log(self.prob(tuple(row[max(0, i - self.order + 1) : i]), row[i]))
                count += 1
        return total, count
