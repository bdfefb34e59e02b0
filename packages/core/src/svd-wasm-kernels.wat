;; WebAssembly SIMD kernels for the SVD's heavy loops (svd-wasm-kernels.ts),
;; in f64x2 lanes: C = A·Bᵀ, and the two matrix–vector products of blocked
;; bidiagonalisation. Every function takes six i32 parameters (element counts
;; and byte addresses) into one imported memory, `env.mem` (at least one page,
;; no maximum, so any non-shared memory can be passed in).
;;
;; Assembled at build time by wabt (tooling/scripts/wat.mjs); no FMA and no
;; reassociation, so each result is a fixed sequence of IEEE-754 roundings
;; (svd-wasm-kernels.test.ts checks them bit for bit against JavaScript).
(module
  (import "env" "mem" (memory $mem 1))

  ;; C (m×n) = A·Bᵀ for A m×k and Bᵀ n×k, all row-major and contiguous, with m
  ;; even, n a multiple of 4 and k even (the caller pads with zeros). Blocks of
  ;; 2 rows × 4 columns of C keep 8 f64x2 accumulators (+ 3 operands: 11 of
  ;; x64's 16 vector registers); lane 0 sums the even p, lane 1 the odd p, and
  ;; the two lanes are added at the end.
  (func $gemm (export "gemm") (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $b i32) (param $c i32)
    (local $i i32) (local $j i32) (local $p i32) (local $kBytes i32) (local $a0 i32) (local $a1 i32) (local $b0 i32)
    (local $b1 i32) (local $b2 i32) (local $b3 i32) (local $cAt i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc02 v128) (local $acc03 v128) (local $acc10 v128)
    (local $acc11 v128) (local $acc12 v128) (local $acc13 v128) (local $va0 v128) (local $va1 v128) (local $vb v128)
    (local.set $kBytes (i32.mul (local.get $k) (i32.const 8)))
    (local.set $i (i32.const 0))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $kBytes))))
        (local.set $a1 (i32.add (local.get $a0) (local.get $kBytes)))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $n)))
            ;; rows j … j+3 of Bᵀ
            (local.set $b0 (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $kBytes))))
            (local.set $b1 (i32.add (local.get $b0) (local.get $kBytes)))
            (local.set $b2 (i32.add (local.get $b1) (local.get $kBytes)))
            (local.set $b3 (i32.add (local.get $b2) (local.get $kBytes)))
            ;; acc{r}{q}: C[i + r, j + q]
            (local.set $acc00 (v128.const f64x2 0 0))
            (local.set $acc01 (v128.const f64x2 0 0))
            (local.set $acc02 (v128.const f64x2 0 0))
            (local.set $acc03 (v128.const f64x2 0 0))
            (local.set $acc10 (v128.const f64x2 0 0))
            (local.set $acc11 (v128.const f64x2 0 0))
            (local.set $acc12 (v128.const f64x2 0 0))
            (local.set $acc13 (v128.const f64x2 0 0))
            (local.set $p (i32.const 0))
            (block $innerDone
              (loop $inner
                (br_if $innerDone (i32.ge_u (local.get $p) (local.get $kBytes)))
                (local.set $va0 (v128.load (i32.add (local.get $a0) (local.get $p))))
                (local.set $va1 (v128.load (i32.add (local.get $a1) (local.get $p))))
                (local.set $vb (v128.load (i32.add (local.get $b0) (local.get $p))))
                (local.set $acc00 (f64x2.add (local.get $acc00) (f64x2.mul (local.get $va0) (local.get $vb))))
                (local.set $acc10 (f64x2.add (local.get $acc10) (f64x2.mul (local.get $va1) (local.get $vb))))
                (local.set $vb (v128.load (i32.add (local.get $b1) (local.get $p))))
                (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.mul (local.get $va0) (local.get $vb))))
                (local.set $acc11 (f64x2.add (local.get $acc11) (f64x2.mul (local.get $va1) (local.get $vb))))
                (local.set $vb (v128.load (i32.add (local.get $b2) (local.get $p))))
                (local.set $acc02 (f64x2.add (local.get $acc02) (f64x2.mul (local.get $va0) (local.get $vb))))
                (local.set $acc12 (f64x2.add (local.get $acc12) (f64x2.mul (local.get $va1) (local.get $vb))))
                (local.set $vb (v128.load (i32.add (local.get $b3) (local.get $p))))
                (local.set $acc03 (f64x2.add (local.get $acc03) (f64x2.mul (local.get $va0) (local.get $vb))))
                (local.set $acc13 (f64x2.add (local.get $acc13) (f64x2.mul (local.get $va1) (local.get $vb))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (br $inner)))
            ;; C[i, j … j+3], then C[i + 1, j … j+3]: each accumulator's two lanes summed
            (local.set $cAt
              (i32.add
                (local.get $c)
                (i32.mul (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 8))))
            (f64.store
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc00)) (f64x2.extract_lane 1 (local.get $acc00))))
            (f64.store offset=8
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc01)) (f64x2.extract_lane 1 (local.get $acc01))))
            (f64.store offset=16
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc02)) (f64x2.extract_lane 1 (local.get $acc02))))
            (f64.store offset=24
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc03)) (f64x2.extract_lane 1 (local.get $acc03))))
            (local.set $cAt (i32.add (local.get $cAt) (i32.mul (local.get $n) (i32.const 8))))
            (f64.store
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc10)) (f64x2.extract_lane 1 (local.get $acc10))))
            (f64.store offset=8
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc11)) (f64x2.extract_lane 1 (local.get $acc11))))
            (f64.store offset=16
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc12)) (f64x2.extract_lane 1 (local.get $acc12))))
            (f64.store offset=24
              (local.get $cAt)
              (f64.add (f64x2.extract_lane 0 (local.get $acc13)) (f64x2.extract_lane 1 (local.get $acc13))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows))))

  ;; out[j] = Σₜ v[t]·A[t, j] for t < rows, j < cols (cols even; A's rows lda
  ;; bytes apart): four rows per pass, two columns per instruction, so out[j]
  ;; is one sequential sum over t.
  (func $gemvT (export "gemvT") (param $rows i32) (param $cols i32) (param $a i32) (param $lda i32) (param $v i32) (param $out i32)
    (local $t i32) (local $jb i32) (local $colBytes i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $colBytes (i32.mul (local.get $cols) (i32.const 8)))
    (local.set $jb (i32.const 0))
    ;; out = 0
    (block $zeroDone
      (loop $zero
        (br_if $zeroDone (i32.ge_u (local.get $jb) (local.get $colBytes)))
        (v128.store
          (i32.add (local.get $out) (local.get $jb))
          (v128.const f64x2 0 0))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $zero)))
    (local.set $t (i32.const 0))
    ;; four rows at a time: r0…r3 point at the rows, v0…v3 hold v[t…t+3] splatted
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $rows)))
        (local.set $r0
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 0)) (local.get $lda))))
        (local.set $r1
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 1)) (local.get $lda))))
        (local.set $r2
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 2)) (local.get $lda))))
        (local.set $r3
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 3)) (local.get $lda))))
        (local.set $v0
          (f64x2.splat
            (f64.load
              (i32.add (local.get $v) (i32.mul (i32.add (local.get $t) (i32.const 0)) (i32.const 8))))))
        (local.set $v1
          (f64x2.splat
            (f64.load
              (i32.add (local.get $v) (i32.mul (i32.add (local.get $t) (i32.const 1)) (i32.const 8))))))
        (local.set $v2
          (f64x2.splat
            (f64.load
              (i32.add (local.get $v) (i32.mul (i32.add (local.get $t) (i32.const 2)) (i32.const 8))))))
        (local.set $v3
          (f64x2.splat
            (f64.load
              (i32.add (local.get $v) (i32.mul (i32.add (local.get $t) (i32.const 3)) (i32.const 8))))))
        (local.set $jb (i32.const 0))
        (block $colsDone4
          (loop $cols4
            (br_if $colsDone4 (i32.ge_u (local.get $jb) (local.get $colBytes)))
            (v128.store
              (i32.add (local.get $out) (local.get $jb))
              (f64x2.add
                (f64x2.add
                  (f64x2.add
                    (f64x2.add
                      (v128.load (i32.add (local.get $out) (local.get $jb)))
                      (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $r0) (local.get $jb)))))
                    (f64x2.mul (local.get $v1) (v128.load (i32.add (local.get $r1) (local.get $jb)))))
                  (f64x2.mul (local.get $v2) (v128.load (i32.add (local.get $r2) (local.get $jb)))))
                (f64x2.mul (local.get $v3) (v128.load (i32.add (local.get $r3) (local.get $jb))))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $cols4)))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $quads)))
    ;; the remaining rows, one at a time
    (block $singlesDone
      (loop $singles
        (br_if $singlesDone (i32.gt_u (i32.add (local.get $t) (i32.const 1)) (local.get $rows)))
        (local.set $r0
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 0)) (local.get $lda))))
        (local.set $v0
          (f64x2.splat
            (f64.load
              (i32.add (local.get $v) (i32.mul (i32.add (local.get $t) (i32.const 0)) (i32.const 8))))))
        (local.set $jb (i32.const 0))
        (block $colsDone1
          (loop $cols1
            (br_if $colsDone1 (i32.ge_u (local.get $jb) (local.get $colBytes)))
            (v128.store
              (i32.add (local.get $out) (local.get $jb))
              (f64x2.add
                (v128.load (i32.add (local.get $out) (local.get $jb)))
                (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $r0) (local.get $jb))))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $cols1)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $singles))))

  ;; out[t] = Σⱼ A[t, j]·u[j] for t < rows, j < cols (cols even): four rows per
  ;; pass share each load of u; lanes sum even and odd j, added at the end.
  (func $gemvN (export "gemvN") (param $rows i32) (param $cols i32) (param $a i32) (param $lda i32) (param $u i32) (param $out i32)
    (local $t i32) (local $jb i32) (local $colBytes i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $vu v128)
    (local.set $colBytes (i32.mul (local.get $cols) (i32.const 8)))
    (local.set $t (i32.const 0))
    ;; four rows at a time
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $rows)))
        (local.set $r0
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 0)) (local.get $lda))))
        (local.set $r1
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 1)) (local.get $lda))))
        (local.set $r2
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 2)) (local.get $lda))))
        (local.set $r3
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 3)) (local.get $lda))))
        (local.set $acc0 (v128.const f64x2 0 0))
        (local.set $acc1 (v128.const f64x2 0 0))
        (local.set $acc2 (v128.const f64x2 0 0))
        (local.set $acc3 (v128.const f64x2 0 0))
        (local.set $jb (i32.const 0))
        (block $colsDone4
          (loop $cols4
            (br_if $colsDone4 (i32.ge_u (local.get $jb) (local.get $colBytes)))
            (local.set $vu (v128.load (i32.add (local.get $u) (local.get $jb))))
            (local.set $acc0
              (f64x2.add
                (local.get $acc0)
                (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $jb))) (local.get $vu))))
            (local.set $acc1
              (f64x2.add
                (local.get $acc1)
                (f64x2.mul (v128.load (i32.add (local.get $r1) (local.get $jb))) (local.get $vu))))
            (local.set $acc2
              (f64x2.add
                (local.get $acc2)
                (f64x2.mul (v128.load (i32.add (local.get $r2) (local.get $jb))) (local.get $vu))))
            (local.set $acc3
              (f64x2.add
                (local.get $acc3)
                (f64x2.mul (v128.load (i32.add (local.get $r3) (local.get $jb))) (local.get $vu))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $cols4)))
        (f64.store
          (i32.add (local.get $out) (i32.mul (i32.add (local.get $t) (i32.const 0)) (i32.const 8)))
          (f64.add (f64x2.extract_lane 0 (local.get $acc0)) (f64x2.extract_lane 1 (local.get $acc0))))
        (f64.store
          (i32.add (local.get $out) (i32.mul (i32.add (local.get $t) (i32.const 1)) (i32.const 8)))
          (f64.add (f64x2.extract_lane 0 (local.get $acc1)) (f64x2.extract_lane 1 (local.get $acc1))))
        (f64.store
          (i32.add (local.get $out) (i32.mul (i32.add (local.get $t) (i32.const 2)) (i32.const 8)))
          (f64.add (f64x2.extract_lane 0 (local.get $acc2)) (f64x2.extract_lane 1 (local.get $acc2))))
        (f64.store
          (i32.add (local.get $out) (i32.mul (i32.add (local.get $t) (i32.const 3)) (i32.const 8)))
          (f64.add (f64x2.extract_lane 0 (local.get $acc3)) (f64x2.extract_lane 1 (local.get $acc3))))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $quads)))
    ;; the remaining rows, one at a time
    (block $singlesDone
      (loop $singles
        (br_if $singlesDone (i32.gt_u (i32.add (local.get $t) (i32.const 1)) (local.get $rows)))
        (local.set $r0
          (i32.add (local.get $a) (i32.mul (i32.add (local.get $t) (i32.const 0)) (local.get $lda))))
        (local.set $acc0 (v128.const f64x2 0 0))
        (local.set $jb (i32.const 0))
        (block $colsDone1
          (loop $cols1
            (br_if $colsDone1 (i32.ge_u (local.get $jb) (local.get $colBytes)))
            (local.set $vu (v128.load (i32.add (local.get $u) (local.get $jb))))
            (local.set $acc0
              (f64x2.add
                (local.get $acc0)
                (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $jb))) (local.get $vu))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $cols1)))
        (f64.store
          (i32.add (local.get $out) (i32.mul (i32.add (local.get $t) (i32.const 0)) (i32.const 8)))
          (f64.add (f64x2.extract_lane 0 (local.get $acc0)) (f64x2.extract_lane 1 (local.get $acc0))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $singles)))))

