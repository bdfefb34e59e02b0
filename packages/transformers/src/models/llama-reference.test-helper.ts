/**
 * An independent float64 Llama/Qwen2 forward in plain JS, written from the HF
 * modeling code's equations (not from the TF.js replica): RMSNorm, RoPE with
 * rotate_half and float64 angles, grouped-query attention with
 * key masking, SwiGLU. Rows are processed one at a time; slow but exact
 * enough to judge float32 results and to take finite differences.
 */

/** The config fields the reference reads. */
export interface RefLlamaConfig {
  vocab: number;
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  theta: number;
  qkvBias: boolean;
  tied: boolean;
  slidingWindow?: number | null;
}

/** Weights as float64 arrays by HF name (row-major [out, in]). */
export type RefWeights = (name: string) => Float64Array;

function linear(x: Float64Array[], w: Float64Array, out: number, bias?: Float64Array): Float64Array[] {
  const inDim = (x[0] as Float64Array).length;
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = bias ? (bias[o] as number) : 0;
      for (let i = 0; i < inDim; i++) s += (row[i] as number) * (w[o * inDim + i] as number);
      y[o] = s;
    }
    return y;
  });
}

function rms(x: Float64Array[], w: Float64Array, eps: number): Float64Array[] {
  return x.map((row) => {
    let ss = 0;
    for (const v of row) ss += v * v;
    const r = 1 / Math.sqrt(ss / row.length + eps);
    return row.map((v, i) => v * r * (w[i] as number));
  });
}

function rope(vec: Float64Array, heads: number, hd: number, pos: number, theta: number): Float64Array {
  const out = new Float64Array(vec.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = pos / theta ** ((2 * i) / hd);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const a = vec[h * hd + i] as number;
      const b = vec[h * hd + half + i] as number;
      out[h * hd + i] = a * c - b * s; // x·cos + rotate_half(x)·sin, first half: −x₂
      out[h * hd + half + i] = b * c + a * s; // second half: +x₁
    }
  }
  return out;
}

/** Logits `[B][T][V]` in float64. `mask[b][s] = 0` hides key s; `positions` default 0..T−1. */
export function llamaReferenceLogits(cfg: RefLlamaConfig, w: RefWeights, ids: number[][], mask?: number[][], positions?: number[][]): Float64Array[][] {
  const { hidden: d, heads, kvHeads, headDim: hd } = cfg;
  const rep = heads / kvHeads;
  return ids.map((row, b) => {
    const T = row.length;
    const pos = positions?.[b] ?? row.map((_, t) => t);
    const emb = w('model.embed_tokens.weight');
    let h = row.map((id) => emb.slice(id * d, (id + 1) * d));
    for (let l = 0; l < cfg.layers; l++) {
      const p = `model.layers.${l}`;
      const x = rms(h, w(`${p}.input_layernorm.weight`), cfg.eps);
      const bias = (m: string): Float64Array | undefined => (cfg.qkvBias ? w(`${p}.self_attn.${m}.bias`) : undefined);
      const q = linear(x, w(`${p}.self_attn.q_proj.weight`), heads * hd, bias('q_proj')).map((v, t) => rope(v, heads, hd, pos[t] as number, cfg.theta));
      const k = linear(x, w(`${p}.self_attn.k_proj.weight`), kvHeads * hd, bias('k_proj')).map((v, t) => rope(v, kvHeads, hd, pos[t] as number, cfg.theta));
      const v = linear(x, w(`${p}.self_attn.v_proj.weight`), kvHeads * hd, bias('v_proj'));
      const ctx = Array.from({ length: T }, () => new Float64Array(heads * hd));
      for (let head = 0; head < heads; head++) {
        const kvh = Math.floor(head / rep);
        for (let t = 0; t < T; t++) {
          const scores: number[] = [];
          const keys: number[] = [];
          for (let s = 0; s <= t; s++) {
            if (mask && mask[b]?.[s] === 0) continue;
            if (cfg.slidingWindow != null && t - s >= cfg.slidingWindow) continue;
            let dot = 0;
            for (let i = 0; i < hd; i++) dot += (q[t] as Float64Array)[head * hd + i]! * (k[s] as Float64Array)[kvh * hd + i]!;
            scores.push(dot / Math.sqrt(hd));
            keys.push(s);
          }
          if (keys.length === 0) continue; // fully masked query row (padding); never compared
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((a, c) => a + c, 0);
          const out = ctx[t] as Float64Array;
          keys.forEach((s, j) => {
            const vs = v[s] as Float64Array;
            for (let i = 0; i < hd; i++) out[head * hd + i] = (out[head * hd + i] as number) + ((e[j] as number) / z) * (vs[kvh * hd + i] as number);
          });
        }
      }
      const o = linear(ctx, w(`${p}.self_attn.o_proj.weight`), d);
      h = h.map((r, t) => r.map((val, i) => val + (o[t] as Float64Array)[i]!));
      const x2 = rms(h, w(`${p}.post_attention_layernorm.weight`), cfg.eps);
      const g = linear(x2, w(`${p}.mlp.gate_proj.weight`), cfg.inter);
      const u = linear(x2, w(`${p}.mlp.up_proj.weight`), cfg.inter);
      const act = g.map((gr, t) => gr.map((gv, i) => (gv / (1 + Math.exp(-gv))) * (u[t] as Float64Array)[i]!));
      const down = linear(act, w(`${p}.mlp.down_proj.weight`), d);
      h = h.map((r, t) => r.map((val, i) => val + (down[t] as Float64Array)[i]!));
    }
    const hn = rms(h, w('model.norm.weight'), cfg.eps);
    return linear(hn, w(cfg.tied ? 'model.embed_tokens.weight' : 'lm_head.weight'), cfg.vocab);
  });
}
