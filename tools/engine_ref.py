#!/usr/bin/env python3
"""Engine reference fixtures: tiny HF-format models (llama / mistral / qwen2 /
gpt2) with PyTorch forward logits, loss, gradients and 3 AdamW steps, for the
C engine's tests to compare against. See tools/README.md ("Engine reference").

usage: /usr/bin/python3 tools/engine_ref.py --out DIR [--case NAME ...]
       /usr/bin/python3 tools/engine_ref.py --selftest
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import hf_ref_models as hf  # noqa: E402

VOCAB, HIDDEN, LAYERS, BATCH, SEQ = 101, 48, 2, 2, 9

HYPER = {
    "optimizer": "torch.optim.AdamW",
    "lr": 1e-2,
    "betas": [0.9, 0.999],
    "eps": 1e-8,
    "weight_decay": 0.1,
    "weight_decay_rule": "applied only to parameters with ndim >= 2 (matrices and "
                         "embeddings, including a tied embedding/head); 0 for biases "
                         "and norm weights",
    "clip_grad_norm": 1.0,
    "clip_rule": "torch.nn.utils.clip_grad_norm_(all params, 1.0): total = L2 norm "
                 "over every gradient element of every parameter; grads *= "
                 "min(1, 1.0 / (total + 1e-6))",
    "adamw_rule": "step t (1-based): p *= 1 - lr*wd; m = b1*m + (1-b1)*g; "
                  "v = b2*v + (1-b2)*g*g; p -= (lr / (1-b1^t)) * m / "
                  "(sqrt(v) / sqrt(1-b2^t) + eps)",
    "steps": 3,
    "loss": "HF causal LM: logits[:, :-1] predict labels[:, 1:], mean cross-entropy "
            "over targets != -100 (ignore_index -100), mean over the whole batch",
}


def llama_cfg(**kw):
    c = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "intermediate_size": 128,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    c.update(kw)
    return c


CASES = [
    {
        "name": "llama_gqa",
        "description": "llama, 4 heads / 2 kv heads (GQA), head_dim 12, untied lm_head, "
                       "no biases, rope_theta 1e4, F32 storage",
        "storage": "F32",
        "seed": 1001,
        "config": llama_cfg(),
    },
    {
        "name": "llama_tied_rope3",
        "description": "llama, tied embeddings, head_dim 16 (!= 48/4), 4 heads / 4 kv heads, "
                       "rope_theta 5e5 with llama3 rope_scaling (factor 8, low 1, high 4, "
                       "original_max_position_embeddings 8), attention_bias (q,k,v,o) and "
                       "mlp_bias, BF16 storage (reference computes in fp32 from the "
                       "bf16-rounded weights)",
        "storage": "BF16",
        "seed": 1002,
        "config": llama_cfg(
            intermediate_size=100, num_key_value_heads=4, head_dim=16,
            rope_theta=500000.0, tie_word_embeddings=True, attention_bias=True,
            mlp_bias=True, torch_dtype="bfloat16", rms_norm_eps=1e-5,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8}),
    },
    {
        "name": "mistral",
        "description": "mistral, 6 heads (head_dim 8) / 2 kv heads, untied, no biases, "
                       "sliding_window null, F16 storage (reference computes in fp32 "
                       "from the f16-rounded weights)",
        "storage": "F16",
        "seed": 1003,
        "config": {
            "architectures": ["MistralForCausalLM"],
            "model_type": "mistral",
            "vocab_size": VOCAB,
            "hidden_size": HIDDEN,
            "intermediate_size": 112,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": 6,
            "num_key_value_heads": 2,
            "max_position_embeddings": 64,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "sliding_window": None,
            "tie_word_embeddings": False,
            "attention_dropout": 0.0,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "use_cache": True,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "torch_dtype": "float16",
        },
    },
    {
        "name": "qwen2",
        "description": "qwen2, q/k/v biases (no o_proj bias), tied embeddings, 4 heads / "
                       "2 kv heads, rope_theta 1e6, F32 storage",
        "storage": "F32",
        "seed": 1004,
        "config": {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": VOCAB,
            "hidden_size": HIDDEN,
            "intermediate_size": 72,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 64,
            "max_window_layers": LAYERS,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "rope_scaling": None,
            "sliding_window": None,
            "use_sliding_window": False,
            "tie_word_embeddings": True,
            "attention_dropout": 0.0,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "use_cache": True,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "torch_dtype": "float32",
        },
    },
    {
        "name": "gpt2",
        "description": "gpt2, 4 heads, n_positions 16, n_inner null (4*n_embd), gelu_new, "
                       "tied head, Conv1D weights [in, out], F32 storage",
        "storage": "F32",
        "seed": 1005,
        "config": {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": VOCAB,
            "n_positions": 16,
            "n_ctx": 16,
            "n_embd": HIDDEN,
            "n_layer": LAYERS,
            "n_head": 4,
            "n_inner": None,
            "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new",
            "attn_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "resid_pdrop": 0.0,
            "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False,
            "initializer_range": 0.02,
            "tie_word_embeddings": True,
            "use_cache": True,
            "bos_token_id": 100,
            "eos_token_id": 100,
            "torch_dtype": "float32",
        },
    },
]


# --------------------------------------------------------------------------

def param_kinds(model):
    """name -> 'norm' | 'bias' | 'matrix' for every (deduplicated) parameter."""
    norm_ids = set()
    for m in model.modules():
        if isinstance(m, (hf.RMSNorm, torch.nn.LayerNorm)):
            norm_ids.add(id(m.weight))
    kinds = {}
    for name, p in model.named_parameters():
        if id(p) in norm_ids:
            kinds[name] = "norm"
        elif p.ndim == 1:
            kinds[name] = "bias"
        else:
            kinds[name] = "matrix"
    return kinds


def round_storage(t, storage):
    if storage == "F32":
        return t
    a = t.detach().float().numpy()
    a = st.round_bf16(a) if storage == "BF16" else st.round_f16(a)
    return torch.from_numpy(a).to(t.dtype)


EMBED_STD = 0.02   # embed_tokens, lm_head, wte, wpe
MATRIX_STD = 0.15  # every other weight matrix (projections, MLP, Conv1D)
BIAS_STD = 0.3     # every bias, LayerNorm biases included
NORM_STD = 0.1     # norm weights are 1 + NORM_STD * normal


def init_params(model, seed, storage="F32"):
    """normal(0, 0.02) for embeddings and the lm_head, normal(0, 0.15) for the
    other weight matrices (large enough that attention is far from uniform and
    RoPE / activations / GQA mapping change the logits visibly), normal(0, 0.3)
    for biases (LayerNorm biases included), 1 + 0.1*normal for norm weights;
    then rounded to the storage dtype so the reference uses exactly the stored
    weights. One torch.Generator(seed), parameters in named_parameters() order."""
    g = torch.Generator().manual_seed(seed)
    kinds = param_kinds(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            k = kinds[name]
            if k == "norm":
                v = 1.0 + NORM_STD * r
            elif k == "bias":
                v = BIAS_STD * r
            elif name.endswith(("embed_tokens.weight", "lm_head.weight", "wte.weight",
                                "wpe.weight")):
                v = EMBED_STD * r
            else:
                v = MATRIX_STD * r
            p.copy_(round_storage(v, storage).to(p.dtype))
    return kinds


def make_batch(seed, vocab=VOCAB, batch=BATCH, seq=SEQ):
    g = torch.Generator().manual_seed(seed + 7777)
    ids = torch.randint(0, vocab, (batch, seq), generator=g, dtype=torch.int64)
    labels = ids.clone()
    labels[0, :3] = -100
    labels[1, 5] = -100
    return ids, labels


def run_case(case, dtype=torch.float32):
    """Build, init, forward/backward and 3 AdamW steps. Returns a dict of results."""
    cfg = case["config"]
    model = hf.build(cfg).to(dtype)
    kinds = init_params(model, case["seed"], case["storage"])
    ids, labels = make_batch(case["seed"])
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    init = {n: p.detach().clone() for n, p in zip(names, params)}

    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": HYPER["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=HYPER["lr"], betas=tuple(HYPER["betas"]), eps=HYPER["eps"])

    out = {"model": model, "names": names, "kinds": kinds, "init": init,
           "ids": ids, "labels": labels, "adam_losses": [], "grad_norms": []}
    for step in range(HYPER["steps"] + 1):
        opt.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = hf.causal_lm_loss(logits, labels)
        loss.backward()
        out["adam_losses"].append(loss.item())
        if step == 0:
            out["logits"] = logits.detach().clone()
            out["loss"] = loss.detach().clone()
            out["grads"] = {n: p.grad.detach().clone() for n, p in zip(names, params)}
        if step == HYPER["steps"]:
            break
        tn = torch.nn.utils.clip_grad_norm_(params, HYPER["clip_grad_norm"])
        out["grad_norms"].append(float(tn))
        opt.step()
    out["after"] = {n: p.detach().clone() for n, p in zip(names, params)}
    return out


def fp64_deviation(r32, r64):
    """How far this fp32 reference is from the same computation in fp64: a
    floor for the tolerances the C tests can use."""
    names = r32["names"]

    def rel(a, b):
        return ((a.double() - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()

    return {
        "note": "max |fp32 - fp64| of this reference; grad_rel is relative to the "
                "tensor's max |grad|. after.* errors are dominated by elements whose "
                "gradient is ~eps-sized or mathematically zero (rounding noise that "
                "Adam turns into steps of up to lr*|g|/(|g|+eps)).",
        "logits_max_abs": (r32["logits"].double() - r64["logits"]).abs().max().item(),
        "loss_abs": abs(r32["adam_losses"][0] - r64["adam_losses"][0]),
        "adam_losses_max_abs": max(abs(a - b) for a, b in
                                   zip(r32["adam_losses"], r64["adam_losses"])),
        "grad_rel": {n: rel(r32["grads"][n], r64["grads"][n]) for n in names},
        "after_max_abs": {n: (r32["after"][n].double() - r64["after"][n]).abs().max().item()
                          for n in names},
    }


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy()


def write_case(case, res, outdir):
    d = os.path.join(outdir, case["name"])
    md = os.path.join(d, "model")
    os.makedirs(md, exist_ok=True)
    with open(os.path.join(md, "config.json"), "w") as f:
        json.dump(case["config"], f, indent=2)
        f.write("\n")
    names = res["names"]
    st.save(os.path.join(md, "model.safetensors"),
            {n: f32(res["init"][n]) for n in names},
            metadata={"format": "pt"},
            dtypes={n: case["storage"] for n in names})

    t = {
        "input_ids": res["ids"].to(torch.int32).numpy(),
        "labels": res["labels"].to(torch.int32).numpy(),
        "logits": f32(res["logits"]),
        "loss": f32(res["loss"].reshape(1)),
    }
    for n in names:
        t["grad." + n] = f32(res["grads"][n])
    t["adam_losses"] = np.array(res["adam_losses"], dtype=np.float32)
    t["grad_norms"] = np.array(res["grad_norms"], dtype=np.float32)
    for n in names:
        t["after." + n] = f32(res["after"][n])
    st.save(os.path.join(d, "ref.safetensors"), t,
            metadata={"format": "pt", "case": case["name"]})

    cfg = case["config"]
    tied = bool(cfg.get("tie_word_embeddings", cfg["model_type"] == "gpt2"))
    ref = {
        "case": case["name"],
        "description": case["description"],
        "model_type": cfg["model_type"],
        "storage_dtype": case["storage"],
        "compute_dtype": "float32",
        "seed": case["seed"],
        "batch": BATCH,
        "seq_len": SEQ,
        "tied_embeddings": tied,
        "hyperparameters": HYPER,
        "loss": res["adam_losses"][0],
        "adam_losses": res["adam_losses"],
        "grad_norms_before_clip": res["grad_norms"],
        "fp32_vs_fp64": res.get("fp64"),
        "n_label_targets": int((res["labels"][:, 1:] != -100).sum()),
        "parameters": [
            {"name": n, "shape": list(res["init"][n].shape), "kind": res["kinds"][n],
             "weight_decay": HYPER["weight_decay"] if res["init"][n].ndim >= 2 else 0.0}
            for n in names],
        "init": "embeddings and lm_head normal(0, %g); other weight matrices normal(0, %g); "
                "biases (incl. LayerNorm bias) normal(0, %g); norm weights 1 + %g*normal; "
                "then rounded to the storage dtype" % (EMBED_STD, MATRIX_STD, BIAS_STD,
                                                       NORM_STD),
        "files": {
            "model/config.json": "HF config",
            "model/model.safetensors": "initial weights in storage dtype, HF names",
            "ref.safetensors": "input_ids, labels, logits, loss, grad.<name>, "
                               "adam_losses, grad_norms, after.<name>",
        },
    }
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")


def setup_torch():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def generate(outdir, only=None):
    setup_torch()
    t0 = time.time()
    for case in CASES:
        if only and case["name"] not in only:
            continue
        res = run_case(case)
        res["fp64"] = fp64_deviation(res, run_case(case, torch.float64))
        write_case(case, res, outdir)
        print("engine_ref: %-17s loss %.6f  after 3 AdamW steps %.6f  (%d params)" % (
            case["name"], res["adam_losses"][0], res["adam_losses"][-1],
            sum(v.numel() for v in res["init"].values())))
    print("engine_ref: wrote %s in %.1fs" % (outdir, time.time() - t0))


# --------------------------------------------------------------------------
# self-test

def tiny_cfgs():
    """Tiny float64 gradcheck configs covering every code path."""
    base = dict(vocab_size=11, hidden_size=8, intermediate_size=6, num_hidden_layers=1,
                max_position_embeddings=16)
    return [
        llama_cfg(**base, num_attention_heads=2, num_key_value_heads=1, head_dim=6,
                  tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                  rope_theta=500000.0,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8}),
        dict(llama_cfg(**base, num_attention_heads=2, num_key_value_heads=1,
                       tie_word_embeddings=False), model_type="mistral"),
        dict(llama_cfg(**base, num_attention_heads=2, num_key_value_heads=2,
                       tie_word_embeddings=True), model_type="qwen2"),
        {"model_type": "gpt2", "vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1,
         "n_head": 2, "n_inner": None, "layer_norm_epsilon": 1e-5,
         "activation_function": "gelu_new", "tie_word_embeddings": True},
    ]


def check_gradcheck():
    from torch.nn.utils.stateless import functional_call
    for i, cfg in enumerate(tiny_cfgs()):
        model = hf.build(cfg).double()
        init_params(model, 50 + i)
        with torch.no_grad():  # larger weights so attention/rope are far from uniform
            for n, p in model.named_parameters():
                if p.ndim >= 2:
                    p.mul_(20.0)
        ids, labels = make_batch(50 + i, vocab=cfg["vocab_size"], batch=2, seq=7)
        names = [n for n, _ in model.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_(True) for _, p in model.named_parameters())

        def f(*ps):
            logits = functional_call(model, dict(zip(names, ps)), (ids,))
            return hf.causal_lm_loss(logits, labels)

        ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)
        assert ok
        print("selftest: gradcheck float64 %-8s ok (%d params)" % (
            cfg["model_type"] + ("/rope3" if cfg.get("rope_scaling") else ""),
            sum(p.numel() for p in params)))


def check_llama3_rope():
    """Scalar re-derivation of the llama3 inv_freq scaling."""
    cfg = CASES[1]["config"]
    got = hf.rope_inv_freq(cfg).double().numpy()
    rs = cfg["rope_scaling"]
    hd = cfg["head_dim"]
    exp = []
    for i in range(0, hd, 2):
        f = 1.0 / (cfg["rope_theta"] ** (i / hd))
        wl = 2 * math.pi / f
        lo_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
        hi_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
        if wl < hi_wl:
            exp.append(f)
        elif wl > lo_wl:
            exp.append(f / rs["factor"])
        else:
            s = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            exp.append((1 - s) * f / rs["factor"] + s * f)
    assert np.allclose(got, exp, rtol=1e-6, atol=0), (got, exp)
    plain = hf.rope_inv_freq(dict(cfg, rope_scaling=None)).double().numpy()
    assert not np.allclose(got, plain)
    print("selftest: llama3 rope inv_freq ok", np.array2string(got, precision=5))


def check_gpt2_pieces():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    assert torch.allclose(hf.gelu_new(x), torch.nn.functional.gelu(x, approximate="tanh"),
                          atol=1e-12)
    # attention block vs torch.nn.MultiheadAttention
    cfg = CASES[4]["config"]
    torch.manual_seed(3)
    att = hf.GPT2Attention(cfg).double()
    for p in att.parameters():
        torch.nn.init.normal_(p, std=0.3)
    D, T = cfg["n_embd"], 7
    mha = torch.nn.MultiheadAttention(D, cfg["n_head"], batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(att.c_attn.weight.t())
        mha.in_proj_bias.copy_(att.c_attn.bias)
        mha.out_proj.weight.copy_(att.c_proj.weight.t())
        mha.out_proj.bias.copy_(att.c_proj.bias)
    x = torch.randn(2, T, D, dtype=torch.float64)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    ref, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
    assert torch.allclose(att(x), ref, atol=1e-12)
    print("selftest: gpt2 gelu_new and attention vs nn.MultiheadAttention ok")


def check_interleaved_equivalence():
    """HF llama (rotate_half RoPE) == llama2.c model (interleaved complex RoPE)
    once q/k rows are permuted as HF's convert_llama_weights_to_hf does."""
    import llama2c_ref as l2
    D, H, KV, V, I, T = 32, 4, 2, 37, 40, 11
    cfg = llama_cfg(vocab_size=V, hidden_size=D, intermediate_size=I, num_hidden_layers=2,
                    num_attention_heads=H, num_key_value_heads=KV, tie_word_embeddings=True,
                    rms_norm_eps=1e-5, rope_theta=10000.0)
    m = hf.build(cfg).double()
    init_params(m, 77)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.ndim >= 2:
                p.mul_(10.0)
    hd = D // H

    def unpermute(w, nh):  # HF layout -> llama2.c / Meta interleaved layout
        return w.view(nh, 2, hd // 2, w.shape[1]).transpose(1, 2).reshape(w.shape)

    sd = {"tok_embeddings": m.model.embed_tokens.weight.detach(),
          "norm": m.model.norm.weight.detach(), "layers": []}
    for lay in m.model.layers:
        a = lay.self_attn
        sd["layers"].append({
            "attention_norm": lay.input_layernorm.weight.detach(),
            "wq": unpermute(a.q_proj.weight.detach(), H),
            "wk": unpermute(a.k_proj.weight.detach(), KV),
            "wv": a.v_proj.weight.detach(), "wo": a.o_proj.weight.detach(),
            "ffn_norm": lay.post_attention_layernorm.weight.detach(),
            "w1": lay.mlp.gate_proj.weight.detach(), "w2": lay.mlp.down_proj.weight.detach(),
            "w3": lay.mlp.up_proj.weight.detach()})
    hdr = dict(dim=D, hidden_dim=I, n_layers=2, n_heads=H, n_kv_heads=KV, vocab_size=V,
               seq_len=32)
    ids = torch.randint(0, V, (1, T), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a = m(ids)[0]
        b = l2.forward(hdr, sd, ids[0].tolist(), dtype=torch.float64)
    err = (a - b).abs().max().item()
    assert err < 1e-10, err
    print("selftest: HF llama == llama2.c interleaved-RoPE model after q/k permute "
          "(max err %.1e)" % err)


def check_adamw_formula(case_res):
    """Re-derive the 3 clipped AdamW steps in numpy float64 from the recorded
    formulas, to make sure HYPER's description is what torch did."""
    # Re-run the steps computing gradients with torch but updating with numpy.
    case, res = case_res
    model = hf.build(case["config"]).float()
    init_params(model, case["seed"], case["storage"])
    ids, labels = res["ids"], res["labels"]
    names = res["names"]
    params = dict(model.named_parameters())
    lr, (b1, b2), eps, wd = HYPER["lr"], HYPER["betas"], HYPER["eps"], HYPER["weight_decay"]
    m = {n: np.zeros(params[n].shape) for n in names}
    v = {n: np.zeros(params[n].shape) for n in names}
    for t in range(1, HYPER["steps"] + 1):
        model.zero_grad(set_to_none=True)
        hf.causal_lm_loss(model(ids), labels).backward()
        g = {n: params[n].grad.double().numpy() for n in names}
        tot = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        c = min(1.0, HYPER["clip_grad_norm"] / (tot + 1e-6))
        with torch.no_grad():
            for n in names:
                p = params[n].double().numpy()
                gi = g[n] * c
                if p.ndim >= 2:
                    p = p * (1 - lr * wd)
                m[n] = b1 * m[n] + (1 - b1) * gi
                v[n] = b2 * v[n] + (1 - b2) * gi * gi
                p = p - (lr / (1 - b1 ** t)) * m[n] / (np.sqrt(v[n]) / math.sqrt(1 - b2 ** t) + eps)
                params[n].copy_(torch.from_numpy(p).float())
    err = max((params[n].detach() - res["after"][n]).abs().max().item() for n in names)
    assert err < 1e-5, err
    print("selftest: AdamW/clip formula reproduces torch for %s (max err %.1e)" % (
        case["name"], err))


def check_written_fixtures():
    """Generate into a temp dir, reload each model directory into a fresh
    model and check the stored logits and loss are reproduced bit for bit."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="engine_ref_")
    try:
        for case in CASES:
            res = run_case(case)
            write_case(case, res, d)
            cd = os.path.join(d, case["name"])
            with open(os.path.join(cd, "model", "config.json")) as f:
                cfg = json.load(f)
            hdr = st.header(os.path.join(cd, "model", "model.safetensors"))
            assert {v["dtype"] for k, v in hdr.items() if k != "__metadata__"} == {case["storage"]}
            w, _ = st.load(os.path.join(cd, "model", "model.safetensors"))
            ref, meta = st.load(os.path.join(cd, "ref.safetensors"))
            m = hf.build(cfg)
            names = [n for n, _ in m.named_parameters()]
            assert sorted(names) == sorted(w), (sorted(names), sorted(w))
            with torch.no_grad():
                for n, p in m.named_parameters():
                    p.copy_(torch.from_numpy(w[n]))
                ids = torch.from_numpy(ref["input_ids"]).long()
                lg = m(ids)
                loss = hf.causal_lm_loss(lg, torch.from_numpy(ref["labels"]).long())
            assert torch.equal(lg, torch.from_numpy(ref["logits"]))
            assert loss.item() == float(ref["loss"][0])
            want = {"input_ids", "labels", "logits", "loss", "adam_losses", "grad_norms"}
            want |= {"grad." + n for n in names} | {"after." + n for n in names}
            assert set(ref) == want
            assert ref["input_ids"].dtype == np.int32 and ref["logits"].shape == (BATCH, SEQ, VOCAB)
        print("selftest: written fixtures reload bit-exactly (model dir -> logits, loss)")
    finally:
        shutil.rmtree(d)


def selftest():
    setup_torch()
    st._selftest()
    check_llama3_rope()
    check_gpt2_pieces()
    check_interleaved_equivalence()
    check_gradcheck()
    check_written_fixtures()
    # fp32 reference vs the same computation in fp64: how exact is the fixture?
    for case in CASES:
        r32 = run_case(case, torch.float32)
        r64 = run_case(case, torch.float64)
        le = (r32["logits"].double() - r64["logits"]).abs().max().item()
        ge = max(((r32["grads"][n].double() - r64["grads"][n]).abs().max()
                  / r64["grads"][n].abs().max().clamp_min(1e-30)).item() for n in r32["names"])
        ae = max((r32["after"][n].double() - r64["after"][n]).abs().max().item()
                 for n in r32["names"])
        print("selftest: %-17s fp32-vs-fp64 logits %.1e, grads (rel to max) %.1e, "
              "after-3-steps %.1e; grad norms %s" % (
                  case["name"], le, ge, ae,
                  ", ".join("%.3f" % x for x in r64["grad_norms"])))
        if case["name"] == "llama_gqa":
            check_adamw_formula((case, r32))
    print("engine_ref selftest ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="output directory (one subdirectory per case)")
    ap.add_argument("--case", action="append", help="only this case (repeatable)")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        selftest()
        if not a.out:
            return
    if not a.out:
        ap.error("--out is required")
    generate(a.out, a.case)


if __name__ == "__main__":
    main()
