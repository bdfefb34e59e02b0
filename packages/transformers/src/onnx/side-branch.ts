/**
 * The side-branch design for quantized variants: the quantized weight stays
 * as the variant has it, and the adapter is added in float as new
 * initializers, y = W_q·x + (x·A')·B' with A' = [s·Aᵀ | Vᵀ_s·diag(d)] [in, r+s]
 * and B' = [Bᵀ ; U_sᵀ] [r+s, out] (the LoRA-Dash term folded in as extra rank).
 */
import { encodeFloat16, encodeFloat32 } from '@tsd-peft/core';
import { loraBranchEdits, type BranchSite } from './lora-branch.js';
import { encodeTensor } from './onnx-encode.js';
import { OnnxDataType, type OnnxModel } from './onnx-model.js';
import type { ModuleUpdate } from './patch.js';
import { encodeLenField } from './protobuf-wire.js';
import type { ByteEdit } from './splice.js';

/** A' [in, k] and B' [k, out] of an update, k = r (+ s with a dash term), row-major float64. */
export function branchFactors(update: ModuleUpdate, scaling: number, inF: number, outF: number): { a: Float64Array; b: Float64Array; rank: number } {
  const { A, B } = update.factors;
  const r = A.rows;
  const s = update.dash?.d.length ?? 0;
  const k = r + s;
  const a = new Float64Array(inF * k);
  const b = new Float64Array(k * outF);
  for (let j = 0; j < r; j++) {
    for (let i = 0; i < inF; i++) a[i * k + j] = scaling * (A.data[j * inF + i] as number);
    for (let o = 0; o < outF; o++) b[j * outF + o] = B.data[o * r + j] as number;
  }
  if (update.dash !== undefined) {
    const { U, Vt, d } = update.dash;
    for (let j = 0; j < s; j++) {
      for (let i = 0; i < inF; i++) a[i * k + r + j] = (Vt.data[j * inF + i] as number) * (d[j] as number);
      for (let o = 0; o < outF; o++) b[(r + j) * outF + o] = U.data[o * s + j] as number;
    }
  }
  return { a, b, rank: k };
}

/**
 * The edits that add `update` as a side branch at `site`: two new
 * initializers (in the site's float type) appended to the graph, and the
 * branch nodes (see `loraBranchEdits`).
 */
export function sideBranchEdits(model: OnnxModel, site: BranchSite, update: ModuleUpdate, scaling: number, taken: Set<string>): ByteEdit[] {
  const { a, b, rank } = branchFactors(update, scaling, site.inFeatures, site.outFeatures);
  const aName = `${site.scope}/lora_branch/A`;
  const bName = `${site.scope}/lora_branch/B`;
  for (const n of [aName, bName]) taken.add(n);
  const encode = (v: Float64Array): Uint8Array => (site.elemType === OnnxDataType.FLOAT16 ? encodeFloat16(v) : encodeFloat32(Float32Array.from(v)));
  const g = model.graph.field;
  const graphEnc = [{ lenStart: g.lenStart, valueStart: g.valueStart, end: g.end }];
  const inits = [encodeTensor(aName, site.elemType, [site.inFeatures, rank], { raw: encode(a) }), encodeTensor(bName, site.elemType, [rank, site.outFeatures], { raw: encode(b) })].map((t) => ({
    start: g.end,
    end: g.end,
    bytes: encodeLenField(5, t),
    enclosing: graphEnc,
  }));
  return [...loraBranchEdits(site, aName, bName, taken), ...inits];
}
