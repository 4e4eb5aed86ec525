#!/usr/bin/env python3
"""check_layers - no source file includes a layer above its own.

The layers are declared once, here, bottom to top. A folder may include its
own headers and those of any lower level; folders on one level (the
validator and the miner) never include each other. Every folder under src/
must be declared, so a new folder is placed on purpose.

    tools/check_layers.py [SRC]        check src/ (or SRC; exit 1 on a violation)
    tools/check_layers.py --selftest   plant an upward include in a copy of
                                       src/ and check that it is caught

README.md ("Layout") says what each folder holds.
"""
import os
import re
import shutil
import sys
import tempfile

LEVELS = [
    ["base"],                # errors, memory, files, JSON, clock, RNG, hashes, numbers
    ["nn"],                  # CPU kernels
    ["io"],                  # safetensors
    ["tok"],                 # tokenizers, BPE learner
    ["data"],                # datasets, chat templates, WordNet
    ["model"],               # config, parameters, architectures, LoRA, llama2.c import
    ["train"],               # trainer, AdamW, evaluation, pretraining
    ["infer"],               # generation
    ["net"],                 # HTTP, signing, keys
    ["serve"],               # OpenAI-compatible chat server on the engine
    ["judge"],               # provenance, duplicates, leaks, scoring, synthetic sets
    ["store"],               # the validator's database and blobs
    ["validator", "miner"],  # the two roles: never include each other
    ["worker"],              # evaluator hosts: the validator's sandboxed evaluation, leased from the store
    ["arena"],               # the one-machine competition
    ["cli"],                 # one file per subcommand
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"', re.M)


def level_of():
    return {folder: i for i, level in enumerate(LEVELS) for folder in level}


def check(src):
    rank = level_of()
    problems = []
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        if folder not in rank:
            problems.append(f"{src}/{folder}/: folder not declared in tools/check_layers.py LEVELS")
            continue
        for dirpath, _, files in os.walk(path):
            for name in sorted(files):
                if not name.endswith((".c", ".h", ".inc")):
                    continue
                file = os.path.join(dirpath, name)
                with open(file, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    target = m.group(1)
                    line = text.count("\n", 0, m.start()) + 1
                    if target == folder:
                        continue
                    if target not in rank:
                        problems.append(f"{file}:{line}: includes {target}/, a folder not declared")
                    elif rank[target] > rank[folder]:
                        problems.append(f"{file}:{line}: {folder}/ includes {target}/, a higher layer")
                    elif rank[target] == rank[folder]:
                        problems.append(f"{file}:{line}: {folder}/ includes {target}/, a peer on its level")
    return problems


def selftest(src):
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "src")
        shutil.copytree(src, copy)
        planted = os.path.join(copy, "nn", "planted.c")
        with open(planted, "w") as f:
            f.write('#include "nn/nn.h"\n#include "model/lora.h"\n')
        peer = os.path.join(copy, "validator", "planted.c")
        with open(peer, "w") as f:
            f.write('#include "miner/miner.h"\n')
        found = check(copy)
    want = ["nn/planted.c:2: nn/ includes model/", "validator/planted.c:1: validator/ includes miner/"]
    missed = [w for w in want if not any(w in p for p in found)]
    if missed:
        print("check_layers selftest: planted includes not caught: " + "; ".join(missed))
        return 1
    print(f"check_layers selftest: both planted includes caught ({len(found)} problem(s) in the copy)")
    return 0


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.relpath(os.path.join(root, "src"))
    if sys.argv[1:] == ["--selftest"]:
        return selftest(src)
    if len(sys.argv) == 2 and not sys.argv[1].startswith("-"):
        src = sys.argv[1]
    elif sys.argv[1:]:
        print(__doc__)
        return 2
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} upward include(s); layers: "
              + " < ".join("|".join(l) for l in LEVELS))
        return 1
    print("check_layers: every include points down (" + " < ".join("|".join(l) for l in LEVELS) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
