;; Fused element-wise kernels behind fused-ops.ts (RMSNorm, SwiGLU, RoPE, forward and backward), run in place
;; on the wasm backend's heap: every address is a byte offset into the imported memory. Each replaces a chain
;; of 4–8 tfjs kernels, each of which reads and writes the whole tensor, with one pass (two for RMSNorm's
;; row sums), and saves fewer tensors for the backward pass.
;;
;; Widths (d, hd/2, n) must be multiples of 4 (fused-ops.ts checks, and takes the tfjs composition
;; otherwise): the loops run on f32x4 lanes only. Products and sums are rounded as the tfjs composition
;; rounds them where the order allows (RoPE and SwiGLU forward: bit for bit); the row sums of RMSNorm
;; are accumulated in 4 lanes, then added across (fused-ops.test.ts bounds the difference).
;; Assembled at build time by wabt (tooling/scripts/wat.mjs).
(module
  (import "env" "mem" (memory $mem 1))

  ;; Σ of the 4 lanes of v.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; RMSNorm forward over rows of x [rows, d]: r = 1/√(Σx²/d + eps), out = (x·r)·w; r is stored per row
  ;; in rstd [rows] for the backward pass.
  (func (export "rmsnorm") (param $x i32) (param $w i32) (param $out i32) (param $rstd i32) (param $rows i32) (param $d i32) (param $eps f32)
    (local $i i32) (local $j i32) (local $row i32) (local $bytes i32) (local $acc v128) (local $v v128) (local $r f32) (local $rv v128)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $row (i32.mul (local.get $i) (local.get $bytes)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $sumDone
          (loop $sum
            (br_if $sumDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $v (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))))
            (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $sum)))
        (local.set $r
          (f32.div (f32.const 1)
            (f32.sqrt (f32.add (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $d))) (local.get $eps)))))
        (f32.store (i32.add (local.get $rstd) (i32.shl (local.get $i) (i32.const 2))) (local.get $r))
        (local.set $rv (f32x4.splat (local.get $r)))
        (local.set $j (i32.const 0))
        (block $scaleDone
          (loop $scale
            (br_if $scaleDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j)))
              (f32x4.mul
                (f32x4.mul (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))) (local.get $rv))
                (v128.load (i32.add (local.get $w) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $scale)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))

  ;; RMSNorm backward: with g = dy·w and c = r³·Σ(g·x)/d per row, dx = g·r − x·c; dw = Σ_rows dy·x·r
  ;; (dw [d] is zeroed here first).
  (func (export "rmsnormGrad") (param $dy i32) (param $x i32) (param $w i32) (param $rstd i32) (param $dx i32) (param $dw i32) (param $rows i32) (param $d i32)
    (local $i i32) (local $j i32) (local $row i32) (local $bytes i32) (local $acc v128) (local $g v128) (local $xv v128) (local $dyv v128)
    (local $r f32) (local $rv v128) (local $cv v128)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $zeroDone
      (loop $zero
        (br_if $zeroDone (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store (i32.add (local.get $dw) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $zero)))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $row (i32.mul (local.get $i) (local.get $bytes)))
        (local.set $r (f32.load (i32.add (local.get $rstd) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $rv (f32x4.splat (local.get $r)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $dotDone
          (loop $dot
            (br_if $dotDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $dyv (v128.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))))
            (local.set $xv (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))))
            (local.set $acc
              (f32x4.add (local.get $acc) (f32x4.mul (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $w) (local.get $j)))) (local.get $xv))))
            (v128.store (i32.add (local.get $dw) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $dw) (local.get $j))) (f32x4.mul (f32x4.mul (local.get $dyv) (local.get $xv)) (local.get $rv))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $dot)))
        (local.set $cv
          (f32x4.splat
            (f32.div (f32.mul (f32.mul (f32.mul (local.get $r) (local.get $r)) (local.get $r)) (call $hsum (local.get $acc)))
              (f32.convert_i32_u (local.get $d)))))
        (local.set $j (i32.const 0))
        (block $dxDone
          (loop $dxLoop
            (br_if $dxDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $g
              (f32x4.mul (v128.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))) (v128.load (i32.add (local.get $w) (local.get $j)))))
            (v128.store (i32.add (local.get $dx) (i32.add (local.get $row) (local.get $j)))
              (f32x4.sub
                (f32x4.mul (local.get $g) (local.get $rv))
                (f32x4.mul (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))) (local.get $cv))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $dxLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))

  ;; SwiGLU forward over n elements: out = (g·s)·u with s = σ(g) computed by tfjs's Sigmoid kernel.
  (func (export "swiglu") (param $g i32) (param $u i32) (param $s i32) (param $out i32) (param $n i32)
    (local $j i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.mul
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $j))) (v128.load (i32.add (local.get $s) (local.get $j))))
            (v128.load (i32.add (local.get $u) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $each))))

  ;; SwiGLU backward: du = dy·(g·s); dg = (dy·u)·(s·(1 + g·(1 − s))), the derivative of g·σ(g).
  (func (export "swigluGrad") (param $dy i32) (param $g i32) (param $u i32) (param $s i32) (param $dg i32) (param $du i32) (param $n i32)
    (local $j i32) (local $bytes i32) (local $dyv v128) (local $gv v128) (local $sv v128)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $dyv (v128.load (i32.add (local.get $dy) (local.get $j))))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $j))))
        (local.set $sv (v128.load (i32.add (local.get $s) (local.get $j))))
        (v128.store (i32.add (local.get $du) (local.get $j)) (f32x4.mul (local.get $dyv) (f32x4.mul (local.get $gv) (local.get $sv))))
        (v128.store (i32.add (local.get $dg) (local.get $j))
          (f32x4.mul
            (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $u) (local.get $j))))
            (f32x4.mul (local.get $sv)
              (f32x4.add (v128.const f32x4 1 1 1 1)
                (f32x4.mul (local.get $gv) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $sv)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $each))))

  ;; RoPE with rotate_half on x [b, t, heads, hd], tables cos/sin [tb, t, hd] (tb = 1: shared by the batch):
  ;; forward (sign = 1): out[i] = x[i]·c[i] + (−x[i+h])·s[i], out[i+h] = x[i+h]·c[i+h] + x[i]·s[i+h] (h = hd/2);
  ;; backward (sign = −1), the transposed rotation: dx[i] = dy[i]·c[i] + dy[i+h]·s[i+h],
  ;; dx[i+h] = dy[i+h]·c[i+h] + (−dy[i])·s[i].
  (func (export "rope") (param $x i32) (param $cos i32) (param $sin i32) (param $out i32) (param $b i32) (param $t i32) (param $heads i32) (param $hd i32) (param $tb i32) (param $sign f32)
    (local $bi i32) (local $ti i32) (local $hi i32) (local $j i32) (local $half i32) (local $rowBytes i32) (local $row i32) (local $tab i32)
    (local $lo v128) (local $hi4 v128) (local $sgn v128) (local $lo0 v128)
    (local.set $rowBytes (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $half (i32.shr_u (local.get $rowBytes) (i32.const 1)))
    (local.set $sgn (f32x4.splat (local.get $sign)))
    (block $bDone
      (loop $bLoop
        (br_if $bDone (i32.ge_u (local.get $bi) (local.get $b)))
        (local.set $ti (i32.const 0))
        (block $tDone
          (loop $tLoop
            (br_if $tDone (i32.ge_u (local.get $ti) (local.get $t)))
            ;; the table row of (batch bi or 0, position ti)
            (local.set $tab
              (i32.mul
                (i32.add (i32.mul (select (local.get $bi) (i32.const 0) (i32.gt_u (local.get $tb) (i32.const 1))) (local.get $t)) (local.get $ti))
                (local.get $rowBytes)))
            (local.set $hi (i32.const 0))
            (block $hDone
              (loop $hLoop
                (br_if $hDone (i32.ge_u (local.get $hi) (local.get $heads)))
                (local.set $row
                  (i32.mul
                    (i32.add (i32.mul (i32.add (i32.mul (local.get $bi) (local.get $t)) (local.get $ti)) (local.get $heads)) (local.get $hi))
                    (local.get $rowBytes)))
                (local.set $j (i32.const 0))
                (block $jDone
                  (loop $jLoop
                    (br_if $jDone (i32.ge_u (local.get $j) (local.get $half)))
                    (local.set $lo (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))))
                    (local.set $hi4 (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (i32.add (local.get $j) (local.get $half))))))
                    ;; forward: lo' = lo·c − hi·s (its own s), hi' = hi·c + lo·s; backward: lo' = lo·c + hi·s[hi half], hi' = hi·c − lo·s[lo half]
                    (local.set $lo0
                      (f32x4.add
                        (f32x4.mul (local.get $lo) (v128.load (i32.add (local.get $cos) (i32.add (local.get $tab) (local.get $j)))))
                        (f32x4.mul
                          (f32x4.mul (f32x4.neg (local.get $sgn)) (local.get $hi4))
                          (v128.load
                            (i32.add (local.get $sin)
                              (i32.add (local.get $tab)
                                (select (local.get $j) (i32.add (local.get $j) (local.get $half)) (f32.gt (local.get $sign) (f32.const 0)))))))))
                    (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (i32.add (local.get $j) (local.get $half))))
                      (f32x4.add
                        (f32x4.mul (local.get $hi4) (v128.load (i32.add (local.get $cos) (i32.add (local.get $tab) (i32.add (local.get $j) (local.get $half))))))
                        (f32x4.mul
                          (f32x4.mul (local.get $sgn) (local.get $lo))
                          (v128.load
                            (i32.add (local.get $sin)
                              (i32.add (local.get $tab)
                                (select (i32.add (local.get $j) (local.get $half)) (local.get $j) (f32.gt (local.get $sign) (f32.const 0)))))))))
                    (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j))) (local.get $lo0))
                    (local.set $j (i32.add (local.get $j) (i32.const 16)))
                    (br $jLoop)))
                (local.set $hi (i32.add (local.get $hi) (i32.const 1)))
                (br $hLoop)))
            (local.set $ti (i32.add (local.get $ti) (i32.const 1)))
            (br $tLoop)))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $bLoop))))
;; Cross-entropy backward from saved softmax probabilities p [rows, v]: out = p·s[r] with s[r] subtracted
  ;; at column targets[r] of each row (the gradient (p − onehot)·s without a dense one-hot; v a multiple of 4).
  (func (export "xentGrad") (param $p i32) (param $scale i32) (param $targets i32) (param $out i32) (param $rows i32) (param $v i32)
    (local $i i32) (local $j i32) (local $row i32) (local $bytes i32) (local $s f32) (local $sv v128) (local $at i32)
    (local.set $bytes (i32.shl (local.get $v) (i32.const 2)))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $row (i32.mul (local.get $i) (local.get $bytes)))
        (local.set $s (f32.load (i32.add (local.get $scale) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $sv (f32x4.splat (local.get $s)))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j)))
              (f32x4.mul (v128.load (i32.add (local.get $p) (i32.add (local.get $row) (local.get $j)))) (local.get $sv)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols)))
        (local.set $at
          (i32.add (local.get $row) (i32.shl (i32.load (i32.add (local.get $targets) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 2))))
        (f32.store (i32.add (local.get $out) (local.get $at))
          (f32.sub (f32.load (i32.add (local.get $out) (local.get $at))) (local.get $s)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))
)
