import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import fusedBytes from './wasm-fused.wat';

/**
 * Fused transformer ops on wasm: RMSNorm, SwiGLU (`silu(gate)·up`) and RoPE
 * (rotate_half), each one custom op whose forward and backward run as one
 * kernel of wasm-fused.wat instead of a chain of 4–8 tfjs kernels.
 *
 * Why (measured by `node packages/transformers/bench/fused.bench.mjs`): each
 * link of the tfjs chain is a kernel launch and a pass over memory, saves its
 * inputs for the backward pass and gets its own gradient tensor. The fused
 * ops save only their inputs (RMSNorm also one float per row; RoPE, a
 * rotation, nothing). With eager-backprop.ts they bring a LoRA step at
 * SmolLM2-135M shapes (batch 4 × 256) from ~237 to ~58 MiB per decoder layer.
 *
 * Each function returns null where it does not apply (a backend other than
 * wasm, no WebAssembly SIMD, widths that are not multiples of 4, non-float32
 * inputs): callers then run their tfjs composition, so every other backend
 * keeps its existing path. {@link setFusedOpsEnabled} turns them off (A/B
 * benches, tests).
 */

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernels use. */
interface WasmBackendInternals {
  wasm: { asm?: { memory?: unknown } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

interface FusedKernels {
  rmsnorm(x: number, w: number, out: number, rstd: number, rows: number, d: number, eps: number): void;
  rmsnormGrad(dy: number, x: number, w: number, rstd: number, dx: number, dw: number, rows: number, d: number): void;
  swiglu(g: number, u: number, s: number, out: number, n: number): void;
  swigluGrad(dy: number, g: number, u: number, s: number, dg: number, du: number, n: number): void;
  xentGrad(p: number, scale: number, targets: number, out: number, rows: number, v: number): void;
  rope(x: number, cos: number, sin: number, out: number, b: number, t: number, heads: number, hd: number, tb: number, sign: number): void;
}

const instances = new WeakMap<WebAssembly.Memory, FusedKernels | null>();
let enabled = true;
let registered = false;

function kernelsOf(backend: WasmBackendInternals): FusedKernels | null {
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    try {
      kernels = new WebAssembly.Instance(new WebAssembly.Module(fusedBytes), { env: { mem: memory } }).exports as unknown as FusedKernels;
    } catch {
      kernels = null; // no SIMD, or tfjs's threaded build (shared memory)
    }
    instances.set(memory, kernels);
  }
  return kernels;
}

/** Heap offset of a tensor's data. */
function at(backend: WasmBackendInternals, t: tf.TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as { memoryOffset: number }).memoryOffset;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Registers the wasm kernels (once, when the wasm backend is active). */
function register(): void {
  if (registered) return;
  registered = true;
  const kernel = (kernelName: string, run: (inputs: tf.TensorInfo[], attrs: tf.NamedAttrMap, backend: WasmBackendInternals, k: FusedKernels) => tf.TensorInfo | tf.TensorInfo[]) =>
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: ({ inputs, attrs, backend }) => {
        const b = backend as unknown as WasmBackendInternals;
        return run(Object.values(inputs) as tf.TensorInfo[], attrs ?? {}, b, kernelsOf(b) as FusedKernels);
      },
    });
  kernel('TsdRmsNorm', ([x, w], attrs, b, k) => {
    const [rows, d] = (x as tf.TensorInfo).shape as [number, number];
    const out = b.makeOutput([rows, d], 'float32');
    const rstd = b.makeOutput([rows], 'float32');
    k.rmsnorm(at(b, x as tf.TensorInfo), at(b, w as tf.TensorInfo), at(b, out), at(b, rstd), rows, d, attrs['eps'] as number);
    return [out, rstd];
  });
  kernel('TsdRmsNormGrad', ([dy, x, w, rstd], _attrs, b, k) => {
    const [rows, d] = (x as tf.TensorInfo).shape as [number, number];
    const dx = b.makeOutput([rows, d], 'float32');
    const dw = b.makeOutput([d], 'float32');
    k.rmsnormGrad(at(b, dy as tf.TensorInfo), at(b, x as tf.TensorInfo), at(b, w as tf.TensorInfo), at(b, rstd as tf.TensorInfo), at(b, dx), at(b, dw), rows, d);
    return [dx, dw];
  });
  kernel('TsdSwiGlu', ([g, u, s], _attrs, b, k) => {
    const shape = [...(g as tf.TensorInfo).shape];
    const out = b.makeOutput(shape, 'float32');
    k.swiglu(at(b, g as tf.TensorInfo), at(b, u as tf.TensorInfo), at(b, s as tf.TensorInfo), at(b, out), sizeOf(shape));
    return out;
  });
  kernel('TsdSwiGluGrad', ([dy, g, u, s], _attrs, b, k) => {
    const shape = [...(g as tf.TensorInfo).shape];
    const dg = b.makeOutput(shape, 'float32');
    const du = b.makeOutput(shape, 'float32');
    k.swigluGrad(at(b, dy as tf.TensorInfo), at(b, g as tf.TensorInfo), at(b, u as tf.TensorInfo), at(b, s as tf.TensorInfo), at(b, dg), at(b, du), sizeOf(shape));
    return [dg, du];
  });
  kernel('TsdXentGrad', ([p, scale, targets], _attrs, b, k) => {
    const [rows, v] = (p as tf.TensorInfo).shape as [number, number];
    const out = b.makeOutput([rows, v], 'float32');
    k.xentGrad(at(b, p as tf.TensorInfo), at(b, scale as tf.TensorInfo), at(b, targets as tf.TensorInfo), at(b, out), rows, v);
    return out;
  });
  kernel('TsdRope', ([x, cos, sin], attrs, b, k) => {
    const [batch, t, heads, hd] = (x as tf.TensorInfo).shape as [number, number, number, number];
    const out = b.makeOutput([batch, t, heads, hd], 'float32');
    const tb = (cos as tf.TensorInfo).shape[0] as number;
    k.rope(at(b, x as tf.TensorInfo), at(b, cos as tf.TensorInfo), at(b, sin as tf.TensorInfo), at(b, out), batch, t, heads, hd, tb, attrs['sign'] as number);
    return out;
  });
}

/** True when the fused kernels can run on the active backend (wasm with SIMD, not turned off). */
export function fusedOpsActive(): boolean {
  if (!enabled || tf.getBackend() !== 'wasm') return false;
  if (kernelsOf(tf.backend() as unknown as WasmBackendInternals) === null) return false;
  register();
  return true;
}

/** Turns the fused ops off (`false`: every caller takes its tfjs composition) or on again; for A/B benches and tests. */
export function setFusedOpsEnabled(on: boolean): void {
  enabled = on;
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}) => tf.engine().runKernel(name, inputs, attrs);
const floats = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32');

/**
 * RMSNorm (Zhang & Sennrich 2019), `w · x / √(mean(x²) + eps)` over the last
 * axis of `x` `[n, d]`, fused; gradients for `x` and `weight`. Saves `x`,
 * `weight` and one float per row. Null where the fused kernels do not apply.
 */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D | null {
  const d = x.shape[1];
  if (!fusedOpsActive() || d % 4 !== 0 || weight.size !== d || !floats(x, weight)) return null;
  const w = weight.rank === 1 ? weight : tf.reshape(weight, [d]);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const [y, rstd] = run('TsdRmsNorm', { x: xs, weight: ws }, { eps }) as [tf.Tensor2D, tf.Tensor1D];
    save([xs, ws, rstd]);
    rstd.dispose();
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sw, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return run('TsdRmsNormGrad', { dy: dy as tf.Tensor, x: sx, weight: sw, rstd: sr }) as tf.Tensor[];
      },
    };
  });
  const y = op(x, w) as tf.Tensor2D;
  if (w !== weight) w.dispose();
  return y;
}

/**
 * SwiGLU's gate product `silu(gate) · up` (Shazeer 2020; the Llama MLP),
 * fused; gradients for both. Saves `gate` and `up` (σ(gate) is recomputed by
 * tfjs's Sigmoid kernel in the backward pass). Null where the fused kernels
 * do not apply.
 */
export function fusedSwiGlu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor | null {
  if (!fusedOpsActive() || gate.size % 4 !== 0 || !tf.util.arraysEqual(gate.shape, up.shape) || !floats(gate, up)) return null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [g, u, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const s = tf.sigmoid(g);
    const value = run('TsdSwiGlu', { gate: g, up: u, s }) as tf.Tensor;
    s.dispose();
    save([g, u]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sg, su] = saved as [tf.Tensor, tf.Tensor];
        const sigma = tf.sigmoid(sg);
        const grads = run('TsdSwiGluGrad', { dy: dy as tf.Tensor, gate: sg, up: su, s: sigma }) as tf.Tensor[];
        sigma.dispose();
        return grads;
      },
    };
  });
  return op(gate, up) as tf.Tensor;
}

/**
 * Rotary position embedding with rotate_half (Su et al. 2021, eq. 34; HF
 * `apply_rotary_pos_emb`): `x·cos + rotate_half(x)·sin` for `x`
 * `[B, T, heads, hd]` and tables `cos`, `sin` `[1|B, T, 1, hd]`, fused; the
 * gradient (for `x` only: the tables are constants) is the transposed
 * rotation, so nothing of `x` is saved. Null where the fused kernels do not apply.
 */
export function fusedRope(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D | null {
  const [b, t, , hd] = x.shape;
  const tb = cos.shape[0];
  const tablesFit = (c: tf.Tensor4D) => (c.shape[0] === 1 || c.shape[0] === b) && c.shape[1] === t && c.shape[2] === 1 && c.shape[3] === hd;
  if (!fusedOpsActive() || hd % 8 !== 0 || !tablesFit(cos) || !tablesFit(sin) || sin.shape[0] !== tb || !floats(x, cos, sin)) return null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    // the tables may be intermediates of the caller's tidy (positions given): keep them for the backward pass
    save([cos, sin]);
    return {
      value: run('TsdRope', { x: xs, cos, sin }, { sign: 1 }) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [c, s] = saved as [tf.Tensor, tf.Tensor];
        return run('TsdRope', { x: dy as tf.Tensor, cos: c, sin: s }, { sign: -1 }) as tf.Tensor;
      },
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * The backward of a masked cross-entropy from its saved softmax `probs`
 * `[rows, vocab]`: `(probs − onehot(targets))·scale[row]`, in one pass and
 * without the dense one-hot (at vocab 49,152 and 1,024 rows the composition
 * held three more `[rows, vocab]` tensors, 576 MiB, at its peak). Bit-identical
 * to `probs·scale − scatter(scale at targets)`. A target outside `[0, vocab)`
 * is a {@link ShapeError}. Null where the fused kernels do not apply.
 */
export function fusedCrossEntropyGrad(probs: tf.Tensor2D, targets: tf.Tensor1D, scale: tf.Tensor1D): tf.Tensor2D | null {
  const [rows, vocab] = probs.shape;
  if (!fusedOpsActive() || vocab % 4 !== 0 || targets.dtype !== 'int32' || targets.size !== rows || scale.size !== rows || !floats(probs, scale)) return null;
  const ids = targets.dataSync();
  for (let i = 0; i < rows; i++) {
    const id = ids[i] as number;
    if (!(id >= 0 && id < vocab)) throw new ShapeError(`cross-entropy target ${id} at row ${i} is outside [0, ${vocab})`, { tensor: 'targets', shape: targets.shape });
  }
  return run('TsdXentGrad', { probs, scale, targets }) as tf.Tensor2D;
}
