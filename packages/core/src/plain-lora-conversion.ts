import { validateDash, type DashTerm } from './dash.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';

/** What {@link toPlainLora} converts: a trained adapter and what it was built on. */
export interface PlainLoraSource {
  /** The trained factors (A, B, scaling) as the model uses them. */
  readonly factors: LoraFactors;
  /**
   * The factors at initialisation when the initialiser moved W
   * (PiSSA / MiLoRA / LoRA-Init subtract scaling₀·B₀A₀ into the residual
   * W' = W − scaling₀·B₀A₀). Omit for zero-B initialisations ('lora', 'gaussian').
   */
  readonly init?: LoraFactors;
  /** A launched LoRA-Dash term (unscaled U_s diag(d) V_sᵀ). */
  readonly dash?: DashTerm;
  /** Module name for error messages. */
  readonly name?: string;
}

/**
 * Converts any of our adapters into one standard LoRA **relative to the
 * original W**, so it loads as a plain PEFT adapter on the untouched base
 * model — the same idea as PEFT's `path_initial_model_for_weight_conversion`
 * for PiSSA. With W' the weight the adapter was trained on,
 *
 *   W' + scaling·B·A + U diag(d) Vᵀ
 *     = W + scaling·B·A − scaling₀·B₀·A₀ + U diag(d) Vᵀ
 *     = W + B̂·Â,  B̂ = [scaling·B | −scaling₀·B₀ | U diag(d)],  Â = [A; A₀; Vᵀ],
 *
 * of rank r (+ r₀ with `init`) (+ s with `dash`) and scaling 1. The only
 * rounding is that of the three products into float32 (and, upstream, of W'
 * itself when it was stored in float32).
 */
export function toPlainLora(source: PlainLoraSource): LoraFactors {
  const name = source.name ?? 'lora';
  const { factors, init, dash } = source;
  validateLoraFactors(factors, undefined, name);
  const shape = { rows: factors.B.rows, cols: factors.A.cols };
  const blocks: Block[] = [{ B: factors.B.data, A: factors.A.data, r: factors.A.rows, colScale: () => factors.scaling }];
  if (init !== undefined) {
    validateLoraFactors(init, shape, `${name}.init`);
    blocks.push({ B: init.B.data, A: init.A.data, r: init.A.rows, colScale: () => -init.scaling });
  }
  if (dash !== undefined) {
    validateDash(dash, shape, `${name}.dash`);
    blocks.push({ B: dash.U.data, A: dash.Vt.data, r: dash.d.length, colScale: (j) => dash.d[j] as number });
  }
  const rank = blocks.reduce((n, b) => n + b.r, 0);
  const out = shape.rows;
  const inDim = shape.cols;
  const B = new Float32Array(out * rank);
  const A = new Float32Array(rank * inDim);
  let offset = 0;
  for (const block of blocks) {
    for (let j = 0; j < block.r; j++) {
      const c = block.colScale(j);
      for (let o = 0; o < out; o++) B[o * rank + offset + j] = c * (block.B[o * block.r + j] as number);
    }
    A.set(block.A, offset * inDim);
    offset += block.r;
  }
  return { A: { rows: rank, cols: inDim, data: A }, B: { rows: out, cols: rank, data: B }, scaling: 1 };
}

/** One group of columns of B̂ (rows of Â) with a per-column multiplier. */
interface Block {
  B: ArrayLike<number>;
  A: Float32Array;
  r: number;
  colScale: (j: number) => number;
}
