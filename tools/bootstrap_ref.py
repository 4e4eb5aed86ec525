#!/usr/bin/python3
"""Independent reference of the noise-aware comparison (src/judge/noise.c,
docs/scoring.md): paired bootstrap intervals over rows and the tie rule.

Usage: /usr/bin/python3 tools/bootstrap_ref.py INPUT.json   (prints JSON)

INPUT: {"alpha", "dead_zone", "resamples", "confidence", "seed",
        "subs": [{"test_row_loss": [...], "test_row_tokens": [...],
                  "synth_row_loss": [...], "synth_row_tokens": [...]}, ...]}
OUTPUT: {"results": [{"w", "lo", "hi", "leader", "effective", "diff_lo",
         "diff_hi"}, ...]}

The resample draws come from the same generator as the C code
(xoshiro256** seeded through splitmix64, bounded draws by rejection: the
published reference algorithms, written again here from their definitions)
so that the intervals can be compared to 1e-12; the means, quantiles
(numpy.quantile, "linear") and the tie rule are numpy and plain Python.
"""
import json
import sys

import numpy as np

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(state):
    z = (state + GOLDEN) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31), (state + GOLDEN) & M64


class Xoshiro256ss:
    def __init__(self, seed):
        self.s = []
        st = seed & M64
        for _ in range(4):
            out, st = splitmix64(st)
            self.s.append(out)

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def main():
    cfg = json.load(open(sys.argv[1]))
    a = float(cfg["alpha"])
    subs = cfg["subs"]
    n = len(subs)
    B = int(cfg["resamples"])
    conf = float(cfg["confidence"])
    dz = float(cfg["dead_zone"])
    sets = []
    for name, weight in (("test", a), ("synth", 1 - a)):
        L = np.array([s[name + "_row_loss"] for s in subs], dtype=np.float64).reshape(n, -1)
        T = np.array([s[name + "_row_tokens"] for s in subs], dtype=np.float64).reshape(n, -1)
        keep = np.where((T > 0).any(axis=0))[0]  # rows no submission scored carry nothing
        assert (T[:, keep] > 0).all(), "a row scored by some submissions only"
        sets.append((weight, L[:, keep], T[:, keep]))

    def wloss(counts):
        w = np.zeros(n)
        for (weight, L, T), c in zip(sets, counts):
            if weight > 0:
                w += weight * ((L * T) @ c) / (T @ c)
        return w

    rng = Xoshiro256ss(int(cfg["seed"]))
    W = np.empty((B, n))
    for b in range(B):
        counts = []
        for weight, L, T in sets:
            m = L.shape[1]
            idx = [rng.below(m) for _ in range(m)]
            counts.append(np.bincount(np.array(idx, dtype=np.int64), minlength=m).astype(np.float64))
        W[b] = wloss(counts)
    w = wloss([np.ones(L.shape[1]) for _, L, _ in sets])
    qs = [(1 - conf) / 2, (1 + conf) / 2]
    ci = [np.quantile(W[:, i], qs) for i in range(n)]

    def rowkey(i):
        return tuple(np.concatenate([sets[0][1][i], sets[0][2][i], sets[1][1][i], sets[1][2][i]]).tolist())

    # C compares losses of both sets, then tokens; order: test loss, test
    # tokens, synth loss, synth tokens -- the same grouping as noise.c's
    # cmp_rows loops (set outer, loss/tokens inner)
    order = sorted(range(n), key=lambda i: (w[i], ci[i][1] - ci[i][0], rowkey(i), i))
    res = [None] * n
    leader = order[0]
    for i in order:
        dlo = dhi = 0.0
        joins = False
        if i != leader:
            dlo, dhi = np.quantile(W[:, i] - W[:, leader], qs)
            joins = abs(w[i] - w[leader]) <= dz or (dlo <= 0 <= dhi)
        if not joins:
            leader = i  # keeps the interval against the previous leader
        res[i] = {"w": w[i], "lo": ci[i][0], "hi": ci[i][1], "leader": leader, "effective": w[leader],
                  "diff_lo": dlo, "diff_hi": dhi}
    json.dump({"results": [{k: (float(v) if k != "leader" else int(v)) for k, v in r.items()} for r in res]},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
