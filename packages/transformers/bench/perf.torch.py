"""PyTorch reference for the perf bench (perf.mjs): the same synthetic Llama
(dim 256, 4 layers, 4 heads, SwiGLU 688, vocab 512, untied head), batch
8 x 128, Adam lr 1e-4, on the CPU with 2 threads. Same methods as the TF.js
side: 'full' trains every linear weight (lm_head included; embeddings and
norms frozen), 'lora' is r=8, alpha=16 on q/k/v/o with the base frozen.

Usage: perf.torch.py '{"method": "lora", "steps": 10, "warmup": 2, "threads": 2}'
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
DIM, LAYERS, HEADS, FF, VOCAB, BATCH, SEQ = 256, 4, 4, 688, 512, 8, 128
HD = DIM // HEADS


class Linear(torch.nn.Module):
    """nn.Linear without bias, optionally with a LoRA branch (PEFT semantics)."""

    def __init__(self, n_in, n_out, lora_r=0, alpha=16, train_base=True):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02, requires_grad=train_base)
        self.r = lora_r
        if lora_r:
            bound = 1 / math.sqrt(n_in)
            self.A = torch.nn.Parameter(torch.empty(lora_r, n_in).uniform_(-bound, bound))
            self.B = torch.nn.Parameter(torch.zeros(n_out, lora_r))
            self.scaling = alpha / lora_r

    def forward(self, x):
        y = F.linear(x, self.weight)
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
        lora = method == "lora"
        train_base = method == "full"
        r = 8 if lora else 0
        self.embed = torch.nn.Parameter(torch.randn(VOCAB, DIM) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            layer = torch.nn.Module()
            layer.norm1 = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
            layer.norm2 = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
            for name in ("q", "k", "v", "o"):
                setattr(layer, name, Linear(DIM, DIM, r, train_base=train_base))
            layer.gate = Linear(DIM, FF, train_base=train_base)
            layer.up = Linear(DIM, FF, train_base=train_base)
            layer.down = Linear(FF, DIM, train_base=train_base)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(DIM), requires_grad=False)
        self.head = Linear(DIM, VOCAB, train_base=train_base)
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
            k = layer.k(x).view(b, t, HEADS, HD).transpose(1, 2)
            v = layer.v(x).view(b, t, HEADS, HD).transpose(1, 2)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD) + self.mask, dim=-1)
            h = h + layer.o((att @ v).transpose(1, 2).reshape(b, t, DIM))
            x = rms_norm(h, layer.norm2)
            h = h + layer.down(F.silu(layer.gate(x)) * layer.up(x))
        return self.head(rms_norm(h, self.norm))


model = Model(args["method"])
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=1e-4)
gen = torch.Generator().manual_seed(1)
steps, warmup = int(args["steps"]), int(args["warmup"])
start = None
for step in range(steps):
    if step == warmup:
        start = time.perf_counter()
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen)
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
elapsed = time.perf_counter() - start
timed = steps - warmup
print(json.dumps({
    "method": args["method"],
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "trainableParams": sum(p.numel() for p in params),
    "tokensPerSecond": BATCH * (SEQ - 1) * timed / elapsed,
    "stepSeconds": elapsed / timed,
    "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
