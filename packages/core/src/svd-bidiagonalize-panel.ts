import { makeReflector } from './svd-householder.js';
import { gemmABt } from './svd-gemm.js';
import { beginPanel, panelGemvN, panelGemvT } from './svd-wasm-kernels.js';

/**
 * One panel of blocked Householder bidiagonalisation (LAPACK `dlabrd`; Dongarra,
 * Sorensen & Hammarling 1989) on a tall row-major m×n matrix: reduces rows and
 * columns i0..i0+nb−1 while deferring the trailing update, which is then
 * applied at once as A₂₂ ← A₂₂ − V·Yᵀ − X·Uᵀ (one matrix product). V and U are
 * the panel's left and right reflectors (stored in `a`, leading 1s written in
 * place during the panel), X (m×nb) and Y (n×nb) the accumulated products.
 * Half the flops move from rank-1 updates into the product.
 */
export function reducePanel(a: Float64Array, m: number, n: number, i0: number, nb: number, d: Float64Array, e: Float64Array, tauLeft: Float64Array, tauRight: Float64Array): void {
  const X = new Float64Array(m * nb);
  const Y = new Float64Array(n * nb);
  const acc = new Float64Array(Math.max(m, n));
  const p = new Float64Array(nb);
  const q = new Float64Array(nb);
  // The two big products of each step read the panel-start trailing matrix;
  // with WebAssembly SIMD they run on one copy of it, else in the loops below.
  const fast = beginPanel(a, n, i0, i0, m - i0, n - i0);
  const vec = new Float64Array(Math.max(m, n));
  for (let i = 0; i < nb; i++) {
    const k = i0 + i;
    // 1. Bring column k (rows k..m−1) up to date: A[:,k] −= V·Y[k,:]ᵀ + X·U[k,:]ᵀ.
    if (i > 0) {
      for (let c = 0; c < i; c++) q[c] = a[(i0 + c) * n + k] as number; // U[k, c]
      for (let t = k; t < m; t++) {
        let s = 0;
        const row = t * n + i0;
        for (let c = 0; c < i; c++) s += (a[row + c] as number) * (Y[k * nb + c] as number) + (X[t * nb + c] as number) * (q[c] as number);
        a[t * n + k] = (a[t * n + k] as number) - s;
      }
    }
    // 2. Left reflector of column k.
    const left = makeReflector(a, k * n + k, n, m - k);
    d[k] = left.beta;
    tauLeft[k] = left.tau;
    a[k * n + k] = 1;
    if (k + 1 >= n) {
      tauRight[k] = 0;
      continue;
    }
    // 3. Y[k+1:, i] = τ·(A[k:, k+1:]ᵀ·v − Y·(Vᵀv) − U·(Xᵀv)), A being the stale trailing matrix.
    const tq = left.tau;
    acc.fill(0, k + 1, n);
    p.fill(0, 0, i);
    q.fill(0, 0, i);
    // acc = A[k:, k+1:]ᵀ·v, four rows per pass so acc is loaded and stored a quarter as often.
    let t = fast ? m : k;
    if (fast) {
      for (let r = k; r < m; r++) vec[r - k] = a[r * n + k] as number;
      panelGemvT(k, k + 1, vec, acc, k + 1);
    }
    for (; t + 3 < m; t += 4) {
      const r0 = t * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      const v0 = a[r0 + k] as number;
      const v1 = a[r1 + k] as number;
      const v2 = a[r2 + k] as number;
      const v3 = a[r3 + k] as number;
      for (let j = k + 1; j < n; j++) {
        acc[j] = (acc[j] as number) + v0 * (a[r0 + j] as number) + v1 * (a[r1 + j] as number) + v2 * (a[r2 + j] as number) + v3 * (a[r3 + j] as number);
      }
    }
    for (; t < m; t++) {
      const row = t * n;
      const vt = a[row + k] as number;
      for (let j = k + 1; j < n; j++) acc[j] = (acc[j] as number) + vt * (a[row + j] as number);
    }
    for (let r = k; r < m; r++) {
      const vt = a[r * n + k] as number;
      if (vt === 0) continue;
      for (let c = 0; c < i; c++) {
        p[c] = (p[c] as number) + (a[r * n + i0 + c] as number) * vt;
        q[c] = (q[c] as number) + (X[r * nb + c] as number) * vt;
      }
    }
    for (let c = 0; c < i; c++) {
      const qc = q[c] as number;
      const urow = (i0 + c) * n;
      for (let j = k + 1; j < n; j++) acc[j] = (acc[j] as number) - qc * (a[urow + j] as number);
    }
    for (let j = k + 1; j < n; j++) {
      let s = acc[j] as number;
      for (let c = 0; c < i; c++) s -= (Y[j * nb + c] as number) * (p[c] as number);
      Y[j * nb + i] = tq * s;
    }
    // 4. Bring row k (columns k+1..) up to date: A[k,:] −= V[k,:]·Yᵀ + X[k,:]·Uᵀ.
    const rowK = k * n;
    for (let j = k + 1; j < n; j++) {
      let s = 0;
      for (let c = 0; c <= i; c++) s += (a[rowK + i0 + c] as number) * (Y[j * nb + c] as number);
      a[rowK + j] = (a[rowK + j] as number) - s;
    }
    for (let c = 0; c < i; c++) {
      const xc = X[k * nb + c] as number;
      const urow = (i0 + c) * n;
      for (let j = k + 1; j < n; j++) a[rowK + j] = (a[rowK + j] as number) - xc * (a[urow + j] as number);
    }
    // 5. Right reflector of row k.
    const right = makeReflector(a, rowK + k + 1, 1, n - k - 1);
    e[k] = right.beta;
    tauRight[k] = right.tau;
    a[rowK + k + 1] = 1;
    // 6. X[k+1:, i] = τ·(A[k+1:, k+1:]·u − V·(Yᵀu) − X·(Uᵀu)).
    const tp = right.tau;
    p.fill(0, 0, i + 1);
    q.fill(0, 0, i);
    for (let j = k + 1; j < n; j++) {
      const uj = a[rowK + j] as number;
      for (let c = 0; c <= i; c++) p[c] = (p[c] as number) + (Y[j * nb + c] as number) * uj;
    }
    for (let c = 0; c < i; c++) {
      const urow = (i0 + c) * n;
      let s = 0;
      for (let j = k + 1; j < n; j++) s += (a[urow + j] as number) * (a[rowK + j] as number);
      q[c] = s;
    }
    // X[:, i] starts as A[k+1:, k+1:]·u, four rows per pass sharing the loads of u.
    let r = fast ? m : k + 1;
    if (fast && k + 1 < m) {
      panelGemvN(k + 1, k + 1, a.subarray(rowK + k + 1, rowK + n), vec, 0);
      for (let t2 = k + 1; t2 < m; t2++) X[t2 * nb + i] = vec[t2 - k - 1] as number;
    }
    for (; r + 3 < m; r += 4) {
      const r0 = r * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = k + 1; j < n; j++) {
        const uj = a[rowK + j] as number;
        s0 += (a[r0 + j] as number) * uj;
        s1 += (a[r1 + j] as number) * uj;
        s2 += (a[r2 + j] as number) * uj;
        s3 += (a[r3 + j] as number) * uj;
      }
      X[r * nb + i] = s0;
      X[(r + 1) * nb + i] = s1;
      X[(r + 2) * nb + i] = s2;
      X[(r + 3) * nb + i] = s3;
    }
    for (; r < m; r++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += (a[r * n + j] as number) * (a[rowK + j] as number);
      X[r * nb + i] = s;
    }
    for (let t = k + 1; t < m; t++) {
      const row = t * n;
      let s = X[t * nb + i] as number;
      for (let c = 0; c <= i; c++) s -= (a[row + i0 + c] as number) * (p[c] as number);
      for (let c = 0; c < i; c++) s -= (X[t * nb + c] as number) * (q[c] as number);
      X[t * nb + i] = tp * s;
    }
  }
  // Trailing update A₂₂ −= [V X]·[Y U]ᵀ over rows and columns from i0+nb.
  const r0 = i0 + nb;
  const rows = m - r0;
  const cols = n - r0;
  if (rows > 0 && cols > 0) {
    const left = new Float64Array(rows * 2 * nb);
    for (let r = 0; r < rows; r++) {
      const src = (r0 + r) * n + i0;
      for (let c = 0; c < nb; c++) {
        left[r * 2 * nb + c] = a[src + c] as number;
        left[r * 2 * nb + nb + c] = X[(r0 + r) * nb + c] as number;
      }
    }
    const right = new Float64Array(cols * 2 * nb);
    for (let j = 0; j < cols; j++) for (let c = 0; c < nb; c++) right[j * 2 * nb + c] = Y[(r0 + j) * nb + c] as number;
    for (let c = 0; c < nb; c++) {
      const urow = (i0 + c) * n + r0;
      for (let j = 0; j < cols; j++) right[j * 2 * nb + nb + c] = a[urow + j] as number;
    }
    gemmABt(rows, cols, 2 * nb, left, 0, 2 * nb, right, 0, 2 * nb, a, r0 * n + r0, n, true);
  }
  // Put β back where the leading 1s were (the reflector tails stay).
  for (let i = 0; i < nb; i++) {
    const k = i0 + i;
    a[k * n + k] = d[k] as number;
    if (k + 1 < n) a[k * n + k + 1] = e[k] as number;
  }
}
