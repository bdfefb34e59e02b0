"""PyTorch reference for the perf bench (perf.mjs): the same synthetic Llama
(dim 256, 4 layers, 4 heads, SwiGLU 688, vocab 512, untied head), batch
8 x 128, Adam lr 1e-4, on the CPU with 2 threads. Same methods as the TF.js
side: 'full' trains every linear weight (lm_head included; embeddings and
norms frozen), 'lora' is r=8, alpha=16 on q/k/v/o with the base frozen.

With "shape" (a real model's sizes, perf.shapes.ts, issue 19) it builds that
model instead, with grouped-query attention, optional q/k/v biases and a head
tied to the frozen embeddings: 'lora' is then r=8 on q/v, 'lora-all' r=8 on
every decoder projection, 'full' trains every decoder projection.

Usage: perf.torch.py '{"method": "lora", "steps": 10, "warmup": 2, "threads": 2}'
       perf.torch.py '{"method": "lora", ..., "shape": {"dim": 576, "layers": 30, "heads": 9,
                       "kv_heads": 3, "ff": 1536, "vocab": 49152, "qkv_bias": false, "batch": 4, "seq": 256}}'
Prints one JSON line: tokens/s, seconds per step, peak RSS. Run it with
OMP_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE set (perf.mjs does).
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

args = json.loads(sys.argv[1])
torch.set_num_threads(int(args.get("threads", 2)))
torch.manual_seed(0)
SHAPE = args.get("shape")
if SHAPE is None:
    DIM, LAYERS, HEADS, KV_HEADS, FF, VOCAB, BATCH, SEQ = 256, 4, 4, 4, 688, 512, 8, 128
    TIED, QKV_BIAS = False, False
    LORA_TARGETS = ("q", "k", "v", "o")
    FULL_HEAD = True
else:
    DIM, LAYERS, HEADS, KV_HEADS, FF, VOCAB = (int(SHAPE[k]) for k in ("dim", "layers", "heads", "kv_heads", "ff", "vocab"))
    BATCH, SEQ = int(SHAPE["batch"]), int(SHAPE["seq"])
    TIED, QKV_BIAS = True, bool(SHAPE["qkv_bias"])
    LORA_TARGETS = ("q", "v")
    FULL_HEAD = False
HD = DIM // HEADS


class Linear(torch.nn.Module):
    """nn.Linear without bias, optionally with a LoRA branch (PEFT semantics)."""

    def __init__(self, n_in, n_out, lora_r=0, alpha=16, train_base=True, bias=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02, requires_grad=train_base)
        self.bias = torch.nn.Parameter(torch.zeros(n_out), requires_grad=False) if bias else None
        self.r = lora_r
        if lora_r:
            bound = 1 / math.sqrt(n_in)
            self.A = torch.nn.Parameter(torch.empty(lora_r, n_in).uniform_(-bound, bound))
            self.B = torch.nn.Parameter(torch.zeros(n_out, lora_r))
            self.scaling = alpha / lora_r

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.r:
            y = y + F.linear(F.linear(x, self.A), self.B) * self.scaling
        return y


def rms_norm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    x1, x2 = x[..., : HD // 2], x[..., HD // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Model(torch.nn.Module):
    def __init__(self, method):
        super().__init__()
        train_base = method == "full"
        targets = LORA_TARGETS if method == "lora" else ("q", "k", "v", "o", "gate", "up", "down") if method == "lora-all" else ()

        def linear(name, n_in, n_out, bias=False):
            return Linear(n_in, n_out, 8 if name in targets else 0, train_base=train_base, bias=bias)

        self.embed = torch.nn.Parameter(torch.randn(VOCAB, DIM) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList()
        kv = KV_HEADS * HD
        for _ in range(LAYERS):
            layer = torch.nn.Module()
            layer.norm1 = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
            layer.norm2 = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
            for name, n_out in (("q", DIM), ("k", kv), ("v", kv)):
                setattr(layer, name, linear(name, DIM, n_out, bias=QKV_BIAS))
            layer.o = linear("o", DIM, DIM)
            layer.gate = linear("gate", DIM, FF)
            layer.up = linear("up", DIM, FF)
            layer.down = linear("down", FF, DIM)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
        # tied: the head is the frozen embedding matrix (HF tie_word_embeddings)
        self.head = None if TIED else Linear(DIM, VOCAB, train_base=train_base and FULL_HEAD)
        inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
        freqs = torch.outer(torch.arange(SEQ).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos()[None, None])
        self.register_buffer("sin", emb.sin()[None, None])
        self.register_buffer("mask", torch.full((SEQ, SEQ), float("-inf")).triu(1))

    def forward(self, ids):
        b, t = ids.shape
        h = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = rms_norm(h, layer.norm1)
            q = layer.q(x).view(b, t, HEADS, HD).transpose(1, 2)
            k = layer.k(x).view(b, t, KV_HEADS, HD).transpose(1, 2)
            v = layer.v(x).view(b, t, KV_HEADS, HD).transpose(1, 2)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            if KV_HEADS != HEADS:  # grouped-query attention, as HF's repeat_kv
                k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
                v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD) + self.mask, dim=-1)
            h = h + layer.o((att @ v).transpose(1, 2).reshape(b, t, DIM))
            x = rms_norm(h, layer.norm2)
            h = h + layer.down(F.silu(layer.gate(x)) * layer.up(x))
        h = rms_norm(h, self.norm)
        return F.linear(h, self.embed) if self.head is None else self.head(h)


model = Model(args["method"])
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=1e-4)
gen = torch.Generator().manual_seed(1)
steps, warmup = int(args["steps"]), int(args["warmup"])
start = None
step_times = []
for step in range(steps):
    if step == warmup:
        start = time.perf_counter()
    t0 = time.perf_counter()
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen)
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    step_times.append(time.perf_counter() - t0)
elapsed = time.perf_counter() - start
timed = steps - warmup
print(json.dumps({
    "method": args["method"],
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "trainableParams": sum(p.numel() for p in params),
    "stepTimes": step_times,
    "tokensPerSecond": BATCH * (SEQ - 1) * timed / elapsed,
    "stepSeconds": elapsed / timed,
    "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
