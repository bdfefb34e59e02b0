/**
 * The merge step of the divide-and-conquer bidiagonal SVD: singular values and
 * vectors of M = e₀·zᵀ + diag(d) (first row z, diagonal d with d₀ = 0), the
 * "broken arrow" of Jessup & Sorensen (1994) and Gu & Eisenstat (1995).
 *
 * σ² are the roots of the secular equation f(σ) = 1 + Σⱼ zⱼ²/(dⱼ² − σ²) = 0,
 * which interlace 0 = d₀ < σ₀ < d₁ < σ₁ < … < d_{K−1} < σ_{K−1}. Each root is
 * found relative to its nearer pole (σ² = d_o² + μ), so every difference
 * dⱼ² − σᵢ² = (dⱼ − d_o)(dⱼ + d_o) − μ is computed without cancellation;
 * then z is recomputed from the roots (Löwner's formula, Gu & Eisenstat §3),
 * which makes the singular vectors numerically orthogonal.
 */

const EPS = Number.EPSILON / 2;

/** Singular triplets of the K×K broken arrow, vectors as columns of row-major K×K arrays. */
export interface ArrowSvd {
  sigma: Float64Array;
  /** Left vectors: x[j·K + i] is entry j of xᵢ. */
  x: Float64Array;
  /** Right vectors: y[j·K + i] is entry j of yᵢ. */
  y: Float64Array;
}

/**
 * SVD of M = e₀·zᵀ + diag(d) for strictly increasing d with d₀ = 0 and every
 * |zⱼ| > 0 (the caller deflates the rest). Scale d and z to ≈1 beforehand.
 */
export function solveArrow(d: Float64Array, z: Float64Array): ArrowSvd {
  const K = d.length;
  const sigma = new Float64Array(K);
  // w[i·K + j] = dⱼ² − σᵢ², the only quantity the vectors need.
  const w = new Float64Array(K * K);
  const delta = new Float64Array(K);
  let zz = 0;
  for (let j = 0; j < K; j++) zz += (z[j] as number) ** 2;
  for (let i = 0; i < K; i++) {
    const origin = pickOrigin(d, z, i, zz);
    const dOrigin = d[origin] as number;
    for (let j = 0; j < K; j++) {
      const dj = d[j] as number;
      delta[j] = (dj - dOrigin) * (dj + dOrigin);
    }
    const mu = secularRoot(delta, z, i, origin === i ? 0 : -halfGap(d, i), origin === i ? (i + 1 < K ? halfGap(d, i) : zz) : 0);
    sigma[i] = Math.sqrt(dOrigin * dOrigin + mu);
    for (let j = 0; j < K; j++) w[i * K + j] = (delta[j] as number) - mu;
  }
  // Löwner: ẑⱼ² = Πᵢ(σᵢ² − dⱼ²) / Π_{i≠j}(dᵢ² − dⱼ²), factors paired so each ratio is O(1).
  const zhat = new Float64Array(K);
  for (let j = 0; j < K; j++) {
    const dj = d[j] as number;
    let prod = -(w[(K - 1) * K + j] as number);
    for (let i = 0; i < j; i++) {
      const di = d[i] as number;
      prod *= -(w[i * K + j] as number) / ((di - dj) * (di + dj));
    }
    for (let i = j; i < K - 1; i++) {
      const di = d[i + 1] as number;
      prod *= -(w[i * K + j] as number) / ((di - dj) * (di + dj));
    }
    zhat[j] = Math.sqrt(Math.abs(prod)) * ((z[j] as number) < 0 ? -1 : 1);
  }
  // yᵢ ∝ (ẑⱼ/(dⱼ² − σᵢ²))ⱼ and xᵢ ∝ M·yᵢ = (−1, dⱼ·ẑⱼ/(dⱼ² − σᵢ²))ⱼ≥₁, using ẑᵀyᵢ = −1.
  const x = new Float64Array(K * K);
  const y = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    let nx = 1;
    let ny = 0;
    for (let j = 0; j < K; j++) {
      const t = (zhat[j] as number) / (w[i * K + j] as number);
      y[j * K + i] = t;
      ny += t * t;
      if (j > 0) {
        const u = (d[j] as number) * t;
        x[j * K + i] = u;
        nx += u * u;
      }
    }
    x[i] = -1;
    const sx = 1 / Math.sqrt(nx);
    const sy = 1 / Math.sqrt(ny);
    for (let j = 0; j < K; j++) {
      x[j * K + i] = (x[j * K + i] as number) * sx;
      y[j * K + i] = (y[j * K + i] as number) * sy;
    }
  }
  return { sigma, x, y };
}

/** (d_{i+1}² − dᵢ²)/2, the midpoint of root i's interval in σ². */
function halfGap(d: Float64Array, i: number): number {
  const lo = d[i] as number;
  const hi = d[i + 1] as number;
  return ((hi - lo) * (hi + lo)) / 2;
}

/** The pole nearer to root i: i when f(midpoint) ≥ 0 (root in the lower half), else i+1. */
function pickOrigin(d: Float64Array, z: Float64Array, i: number, zz: number): number {
  const K = d.length;
  if (i === K - 1 || zz === 0) return i;
  const di = d[i] as number;
  const mid = halfGap(d, i);
  let f = 1;
  for (let j = 0; j < K; j++) {
    const dj = d[j] as number;
    f += (z[j] as number) ** 2 / ((dj - di) * (dj + di) - mid);
  }
  return f >= 0 ? i : i + 1;
}

/**
 * The root μ ∈ (lo, hi) of g(μ) = 1 + Σⱼ zⱼ²/(δⱼ − μ), where δ are the squared
 * poles relative to the origin and root i lies between poles i and i+1.
 * Safeguarded iteration: each step fits c₀ + c₁/(δᵢ − μ) + c₂/(δᵢ₊₁ − μ) to g and
 * g′ at the current point ("middle way", Li 1993) and solves it; a step that
 * leaves the bracket is replaced by bisection.
 */
function secularRoot(delta: Float64Array, z: Float64Array, i: number, lo0: number, hi0: number): number {
  const K = delta.length;
  const last = i === K - 1;
  let lo = lo0;
  let hi = hi0;
  let mu = (lo + hi) / 2;
  for (let iter = 0; iter < 100; iter++) {
    let psi = 0;
    let dpsi = 0;
    let phi = 0;
    let dphi = 0;
    for (let j = 0; j <= i; j++) {
      const t = (z[j] as number) / ((delta[j] as number) - mu);
      psi += (z[j] as number) * t;
      dpsi += t * t;
    }
    for (let j = i + 1; j < K; j++) {
      const t = (z[j] as number) / ((delta[j] as number) - mu);
      phi += (z[j] as number) * t;
      dphi += t * t;
    }
    const g = 1 + psi + phi;
    if (g < 0) lo = mu;
    else hi = mu;
    if (Math.abs(g) <= 8 * EPS * (K + 1) * (1 + Math.abs(psi) + Math.abs(phi)) || g === 0) return mu;
    if (hi - lo <= 4 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) return (lo + hi) / 2;
    const A = (delta[i] as number) - mu;
    const c1 = dpsi * A * A;
    let next = Number.NaN;
    if (last) {
      const c0 = g - dpsi * A;
      if (c0 > 0) next = mu + A + c1 / c0;
    } else {
      const B = (delta[i + 1] as number) - mu;
      const c2 = dphi * B * B;
      const c0 = g - dpsi * A - dphi * B;
      // c₀t² − βt + γ = 0 has exactly one root in (A, B): the model rises from −∞ to +∞ there.
      const beta = c0 * (A + B) + c1 + c2;
      const gamma = A * B * g;
      let t = Number.NaN;
      if (c0 === 0) t = gamma / beta;
      else {
        const disc = Math.sqrt(Math.max(0, beta * beta - 4 * c0 * gamma));
        const q = beta + (beta >= 0 ? disc : -disc);
        const t1 = q / (2 * c0);
        const t2 = q === 0 ? Number.NaN : (2 * gamma) / q;
        t = t1 > A && t1 < B ? t1 : t2;
      }
      next = mu + t;
    }
    mu = next > lo && next < hi ? next : (lo + hi) / 2;
  }
  return mu;
}
