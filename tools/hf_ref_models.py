"""Plain-PyTorch reference models following Hugging Face transformers' modelling
code (eager attention path, no dropout, no KV cache), for the engine fixtures.

  LlamaRef  ~ LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM
  GPT2Ref   ~ GPT2LMHeadModel

Parameter names (named_parameters()) are exactly the names HF saves in
model.safetensors. For tied heads the head shares the embedding Parameter, so
named_parameters() lists it once (as the embedding) and its gradient is the
sum of the embedding and head contributions, as in HF.

Everything is computed in the module's dtype (float32 for fixtures, float64 for
the self-test); RoPE inverse frequencies are computed in float32 as HF does.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------
# shared pieces

def causal_lm_loss(logits, labels, ignore_index=-100):
    """HF ForCausalLMLoss without num_items_in_batch: logits[:, :-1] predict
    labels[:, 1:]; mean cross-entropy over positions whose target != -100."""
    V = logits.shape[-1]
    shift_logits = logits[:, :-1, :].reshape(-1, V)
    shift_labels = labels[:, 1:].reshape(-1).long()
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=ignore_index,
                           reduction="mean")


def causal_softmax_attention(q, k, v, scale):
    """q [B,H,T,hd], k/v [B,H,T,hd] -> [B,H,T,hd]; softmax(q k^T * scale + mask) v,
    mask = -inf above the diagonal (HF uses finfo.min; identical after softmax)."""
    T = q.shape[-2]
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    s = s.masked_fill(mask, torch.finfo(s.dtype).min)
    p = torch.softmax(s, dim=-1)
    return torch.matmul(p, v)


# --------------------------------------------------------------------------
# Llama / Mistral / Qwen2

def rope_inv_freq(cfg):
    """inv_freq [hd/2] (float32), HF _compute_default_rope_parameters plus the
    'llama3' rope_scaling of _compute_llama3_parameters."""
    hd = head_dim_of(cfg)
    base = float(cfg.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = cfg.get("rope_scaling")
    if rs is None:
        return inv_freq
    rtype = rs.get("rope_type", rs.get("type", "default"))
    if rtype == "default":
        return inv_freq
    if rtype != "llama3":
        raise NotImplementedError("rope_type %r" % rtype)
    factor = float(rs["factor"])
    low = float(rs["low_freq_factor"])
    high = float(rs["high_freq_factor"])
    old_ctx = float(rs["original_max_position_embeddings"])
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    # long wavelengths (low frequencies): divide by factor; short: keep
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # in between: interpolate with a smooth factor
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def head_dim_of(cfg):
    hd = cfg.get("head_dim")
    return int(hd) if hd else cfg["hidden_size"] // cfg["num_attention_heads"]


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class LlamaAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = head_dim_of(cfg)
        mt = cfg["model_type"]
        if mt == "qwen2":
            qkv_bias, o_bias = True, False
        elif mt == "llama":
            qkv_bias = o_bias = bool(cfg.get("attention_bias", False))
        elif mt == "mistral":
            qkv_bias = o_bias = False
        else:
            raise ValueError(mt)
        self.q_proj = nn.Linear(D, self.H * self.hd, bias=qkv_bias)
        self.k_proj = nn.Linear(D, self.KV * self.hd, bias=qkv_bias)
        self.v_proj = nn.Linear(D, self.KV * self.hd, bias=qkv_bias)
        self.o_proj = nn.Linear(self.H * self.hd, D, bias=o_bias)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.H // self.KV  # repeat_kv: kv head j serves q heads j*rep..j*rep+rep-1
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = causal_softmax_attention(q, k, v, self.hd ** -0.5)
        o = o.transpose(1, 2).reshape(B, T, self.H * self.hd)
        return self.o_proj(o)


class LlamaMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, I = cfg["hidden_size"], cfg["intermediate_size"]
        b = cfg["model_type"] == "llama" and bool(cfg.get("mlp_bias", False))
        self.gate_proj = nn.Linear(D, I, bias=b)
        self.up_proj = nn.Linear(D, I, bias=b)
        self.down_proj = nn.Linear(I, D, bias=b)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.self_attn = LlamaAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.mlp = LlamaMLP(cfg)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaRef(nn.Module):
    """LlamaForCausalLM-equivalent for model_type llama / mistral / qwen2."""

    def __init__(self, cfg):
        super().__init__()
        if cfg["model_type"] == "mistral" and cfg.get("sliding_window"):
            raise NotImplementedError("sliding_window")
        if cfg["model_type"] == "qwen2" and cfg.get("use_sliding_window"):
            raise NotImplementedError("use_sliding_window")
        self.cfg = cfg
        self.model = LlamaBody(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)

    def rope(self, T, dtype):
        pos = torch.arange(T, dtype=torch.float32)
        # fp32 like HF even when the module was converted with .double()
        freqs = pos[:, None] * self.inv_freq.float()[None, :]  # [T, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)                 # [T, hd]
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def head_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def forward(self, input_ids):
        x = self.model.embed_tokens(input_ids)
        cos, sin = self.rope(input_ids.shape[1], x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        return F.linear(x, self.head_weight())


# --------------------------------------------------------------------------
# GPT-2

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    """HF Conv1D: weight [in, out], y = x @ W + b."""

    def __init__(self, nin, nout):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nin, nout))
        self.bias = nn.Parameter(torch.zeros(nout))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(
            *x.shape[:-1], self.weight.shape[1])


class GPT2Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["n_embd"]
        self.H = cfg["n_head"]
        self.hd = D // self.H
        self.c_attn = Conv1D(D, 3 * D)
        self.c_proj = Conv1D(D, D)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.c_attn(x).split(D, dim=2)
        q, k, v = (t.view(B, T, self.H, self.hd).transpose(1, 2) for t in (q, k, v))
        o = causal_softmax_attention(q, k, v, 1.0 / math.sqrt(self.hd))
        return self.c_proj(o.transpose(1, 2).reshape(B, T, D))


class GPT2MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["n_embd"]
        inner = cfg.get("n_inner") or 4 * D
        if cfg.get("activation_function", "gelu_new") != "gelu_new":
            raise NotImplementedError(cfg["activation_function"])
        self.c_fc = Conv1D(D, inner)
        self.c_proj = Conv1D(inner, D)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, eps = cfg["n_embd"], cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(D, eps=eps)
        self.attn = GPT2Attention(cfg)
        self.ln_2 = nn.LayerNorm(D, eps=eps)
        self.mlp = GPT2MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["n_embd"]
        self.wte = nn.Embedding(cfg["vocab_size"], D)
        self.wpe = nn.Embedding(cfg["n_positions"], D)
        self.h = nn.ModuleList([GPT2Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(D, eps=cfg["layer_norm_epsilon"])


class GPT2Ref(nn.Module):
    """GPT2LMHeadModel-equivalent; the head is always tied to transformer.wte."""

    def __init__(self, cfg):
        super().__init__()
        if cfg.get("tie_word_embeddings", True) is False:
            raise NotImplementedError("untied gpt2 head")
        self.cfg = cfg
        self.transformer = GPT2Body(cfg)

    def forward(self, input_ids):
        T = input_ids.shape[1]
        if T > self.cfg["n_positions"]:
            raise ValueError("sequence longer than n_positions")
        t = self.transformer
        x = t.wte(input_ids) + t.wpe(torch.arange(T))[None]
        for blk in t.h:
            x = blk(x)
        x = t.ln_f(x)
        return F.linear(x, t.wte.weight)


def build(cfg):
    if cfg["model_type"] in ("llama", "mistral", "qwen2"):
        return LlamaRef(cfg)
    if cfg["model_type"] == "gpt2":
        return GPT2Ref(cfg)
    raise ValueError("unknown model_type %r" % cfg["model_type"])
