#!/usr/bin/python3
"""Per-tensor norms of a safetensors model, and, given a second model of the
same shapes, each tensor's relative distance and cosine to the first (what
the validator's provenance rule bounds; docs/anticheat.md).

    /usr/bin/python3 tools/tensor_norms.py BASE/model.safetensors [SUB/model.safetensors]

Reads the files with tools/st.py (numpy only)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def load(path):
    return {k: np.asarray(v, dtype=np.float64) for k, v in st.load(path)[0].items()}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    base = load(sys.argv[1])
    sub = load(sys.argv[2]) if len(sys.argv) == 3 else None
    for name in sorted(base):
        w = base[name]
        nw = np.linalg.norm(w)
        line = f"{name:50s} {str(list(w.shape)):12s} norm {nw:9.4f} rms {np.sqrt((w * w).mean()):.4f}"
        if sub is not None and name in sub and nw > 0:
            s = sub[name]
            cos = (s * w).sum() / (np.linalg.norm(s) * nw) if np.linalg.norm(s) > 0 else 0.0
            line += f"  rel {np.linalg.norm(s - w) / nw:7.4f} cos {cos:.4f}"
        print(line)


if __name__ == "__main__":
    main()
