import * as tf from '@tensorflow/tfjs-core';
import { wasmGemmActive } from '@tsd-peft/tfjs';

/**
 * Attention core `softmax(q·kᵀ + mask)·v` for G independent groups, as one
 * op with a hand-written gradient whose every product is a plain 2-D matmul.
 *
 * Why (stock wasm kernel only, see {@link prefersGroupSplitAttention}):
 * tfjs 4.22's wasm `BatchMatMul` sends XNNPACK only products whose
 * second operand has batch 1; a [32, 128, 64]·[32, 64, 128] product falls to
 * a scalar loop at ~2 GFLOP/s, against ~45 for the 2-D XNNPACK path
 * (measured by the perf bench), which made attention ~half of a LoRA
 * training step. Splitting the groups apart costs one host copy per operand
 * (wasm's own `slice`/`split` take ~0.5 ms per piece, a host copy of all 32
 * takes ~1 ms), and the pieces are joined with `concat`, which is fast.
 *
 * Shapes: q `[G, R, hd]` (already scaled), kᵀ `[G, hd, T]`, v `[G, T, hd]`,
 * mask broadcastable to `[B, H, T, T]` where G·R = B·H·T; returns the
 * context `[G, R, hd]`. With P = softmax(S), S = q·kᵀ + mask:
 *
 *   dP = dC·vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 *   dq = dS·k,    d(kᵀ) = qᵀ·dS,   dv = Pᵀ·dC
 */
export function groupAttention(q: tf.Tensor3D, kt: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor4D, scoresShape: [number, number, number, number]): tf.Tensor3D {
  const [g, r, hd] = q.shape;
  const t = kt.shape[2];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [qIn, ktIn, vIn, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    const qs = splitGroups(qIn);
    const ks = splitGroups(ktIn);
    const scores = tf.reshape(
      tf.concat(
        qs.map((qi, i) => tf.matMul(qi, ks[i] as tf.Tensor2D)),
        0,
      ),
      scoresShape,
    );
    const probs = tf.reshape(tf.softmax(tf.add(scores, mask)), [g, r, t]) as tf.Tensor3D;
    const ps = splitGroups(probs);
    const vs = splitGroups(vIn);
    const value = tf.reshape(
      tf.concat(
        ps.map((p, i) => tf.matMul(p, vs[i] as tf.Tensor2D)),
        0,
      ),
      [g, r, hd],
    ) as tf.Tensor3D;
    save([qIn, ktIn, vIn, probs]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skt, sv, sp] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dC = splitGroups(dy as tf.Tensor3D);
        const vT = splitGroups(tf.transpose(sv, [0, 2, 1]));
        const dP = tf.reshape(
          tf.concat(
            dC.map((d, i) => tf.matMul(d, vT[i] as tf.Tensor2D)),
            0,
          ),
          [g * r, t],
        );
        const P = tf.reshape(sp, [g * r, t]);
        const dS = tf.reshape(tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 1, true))), [g, r, t]) as tf.Tensor3D;
        const dSs = splitGroups(dS);
        const k = splitGroups(tf.transpose(skt, [0, 2, 1]));
        const qT = splitGroups(tf.transpose(sq, [0, 2, 1]));
        const pT = splitGroups(tf.transpose(sp, [0, 2, 1]));
        const join = (parts: tf.Tensor2D[], shape: [number, number, number]) => tf.reshape(tf.concat(parts, 0), shape);
        return [
          join(
            dSs.map((d, i) => tf.matMul(d, k[i] as tf.Tensor2D)),
            [g, r, hd],
          ),
          join(
            qT.map((x, i) => tf.matMul(x, dSs[i] as tf.Tensor2D)),
            [g, hd, t],
          ),
          join(
            pT.map((x, i) => tf.matMul(x, dC[i] as tf.Tensor2D)),
            [g, t, hd],
          ),
        ];
      },
    };
  });
  return op(q, kt, v) as tf.Tensor3D;
}

/** The G matrices of a `[G, m, n]` tensor as separate 2-D tensors (one host read, G writes). */
function splitGroups(x: tf.Tensor3D): tf.Tensor2D[] {
  const [g, m, n] = x.shape;
  const data = x.dataSync() as Float32Array;
  return Array.from({ length: g }, (_, i) => tf.tensor2d(data.subarray(i * m * n, (i + 1) * m * n), [m, n], 'float32'));
}

/**
 * Backends whose batched matmul is much slower than a loop of 2-D ones and
 * whose tensors live in host memory (so splitting is a copy, not a GPU
 * read-back): tfjs 4.22's wasm with its stock matmul kernel, i.e. when our
 * kernel (`@tsd-peft/tfjs` wasm-gemm) could not be installed.
 */
export function prefersGroupSplitAttention(): boolean {
  return tf.getBackend() === 'wasm' && !wasmGemmActive();
}
