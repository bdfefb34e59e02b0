/**
 * Householder reflectors H = I − τ·v·vᵀ with v₀ = 1, in LAPACK's `dlarfg`
 * convention: H·x = β·e₁ with |β| = ‖x‖ and β of opposite sign to x₀ (no
 * cancellation in x₀ − β). Golub & Van Loan, Matrix Computations, §5.1.2.
 */

/** Result of {@link makeReflector}: τ and β; v is written in place. */
export interface Reflector {
  tau: number;
  beta: number;
}

/**
 * Turns the strided vector x = data[offset + i·stride], i < len, into the
 * Householder vector v (v₀ = 1 implied, x₀ left holding β) and returns τ, β.
 * τ = 0 means H = I (x already a multiple of e₁).
 */
export function makeReflector(data: Float64Array, offset: number, stride: number, len: number): Reflector {
  const alpha = data[offset] as number;
  // Scale by the largest entry so squares neither overflow nor underflow.
  let scale = 0;
  for (let i = 1, p = offset + stride; i < len; i++, p += stride) {
    const a = Math.abs(data[p] as number);
    if (a > scale) scale = a;
  }
  if (scale === 0) return { tau: 0, beta: alpha };
  let ssq = 0;
  for (let i = 1, p = offset + stride; i < len; i++, p += stride) {
    const t = (data[p] as number) / scale;
    ssq += t * t;
  }
  const xnorm = scale * Math.sqrt(ssq);
  const norm = Math.hypot(alpha, xnorm);
  const beta = alpha >= 0 ? -norm : norm;
  const tau = (beta - alpha) / beta;
  const inv = 1 / (alpha - beta);
  for (let i = 1, p = offset + stride; i < len; i++, p += stride) data[p] = (data[p] as number) * inv;
  data[offset] = beta;
  return { tau, beta };
}
