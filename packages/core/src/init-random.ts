import type { LoraFactors } from './lora-factors.js';
import type { Rng } from './random.js';

/**
 * PEFT's default LoRA initialisation: A ~ kaiming_uniform_(a=√5) on the
 * [r, in] weight, i.e. U(−b, b) with b = gain·√3/√fan_in, gain = √(2/(1+a²))
 * = √(1/3), so b = 1/√in; B = 0 so the adapter starts as the identity
 * (Hu et al. 2021; PEFT `reset_lora_parameters(init_lora_weights=True)`).
 */
export function kaimingUniformFactors(out: number, inDim: number, r: number, scaling: number, rng: Rng): LoraFactors {
  const bound = 1 / Math.sqrt(inDim);
  const A = new Float32Array(r * inDim);
  for (let i = 0; i < A.length; i++) A[i] = rng.uniform(-bound, bound);
  return zeroB(A, out, inDim, r, scaling);
}

/**
 * PEFT's `init_lora_weights="gaussian"`: A ~ N(0, σ²) with σ = 1/r
 * (`nn.init.normal_(std=1/r)`, so variance 1/r²), B = 0.
 */
export function gaussianFactors(out: number, inDim: number, r: number, scaling: number, rng: Rng): LoraFactors {
  const std = 1 / r;
  const A = new Float32Array(r * inDim);
  for (let i = 0; i < A.length; i++) A[i] = std * rng.normal();
  return zeroB(A, out, inDim, r, scaling);
}

function zeroB(A: Float32Array, out: number, inDim: number, r: number, scaling: number): LoraFactors {
  return {
    A: { rows: r, cols: inDim, data: A },
    B: { rows: out, cols: r, data: new Float32Array(out * r) },
    scaling,
  };
}
