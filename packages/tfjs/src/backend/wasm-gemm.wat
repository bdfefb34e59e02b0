;; The WebAssembly SIMD matrix product behind wasm-gemm.ts:
;;
;;   bgemm(g, m, n, k, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, mc, pack, kc)
;;
;; writes, for each of g batches, C[m×n] = A·B, where A and B are addressed
;; through byte strides (aRow/aCol between rows/columns of A, bRow/bCol of B),
;; so transposed operands cost nothing extra: A's elements are splatted one at
;; a time, and B is copied panel by panel into `pack` anyway (with vector
;; loads when its rows are contiguous, element by element when it is
;; transposed). Batch strides are in bytes too (0 broadcasts one operand over
;; the batch); C is contiguous. Every address is a byte offset into the
;; imported memory, which is the wasm backend's own heap, so tensors are read
;; and written in place.
;;
;; Blocking: rows in blocks of `mc` and the inner dimension in blocks of `kc`
;; (chosen so that A's block stays in L2 and B's packed panel in L1), and
;; within a block, for each 8-column panel of B, 4 rows × 8 columns of f32x4
;; accumulators (8 + 3 live vector registers of x64's 16), each B row segment
;; loaded once per 4 rows and each A element splatted once per 8 columns;
;; remainders run as 4-column and scalar tiles, and as single rows.
;;
;; Every element of C is one sequential fp32 sum over p = 0 … k−1 (each
;; product and each sum rounded, no FMA), whatever the blocking: the first K
;; block starts its accumulators from zero, later ones ("resume") from the
;; partial sums stored in C. wasm-gemm.test.ts checks this bit for bit.
;;
;; The same function, exported as
;;
;;   rgemm(m, n, k, a, aRow, aCol, b, bRow, bCol, c, mc, pack, kc, mode, s, sRow, shift, wT, z)
;;
;; also reads B from a frozen weight W kept in reduced precision (bfloat16,
;; or int8 with one f32 scale per row and block of 2^shift columns, and in
;; mode 3 one int8 zero point per block at z; see core's weight-codes.ts): $packReduced converts the codes while it fills the packed
;; panels (and the scalar tiles' column), so nothing is dequantized whole and
;; the tiles, blocking and summation order are those of the fp32 product,
;; which it equals bit for bit on the decoded W (wasm-reduced-gemm.test.ts).
;;
;; The tiles are written out per shape (4 or 1 rows × 8, 4 or 1 columns, each
;; starting from zero or resuming from C), as a register-blocked kernel must
;; be: a loop over rows or lanes here would spill the accumulators.
;; Assembled at build time by wabt (tooling/scripts/wat.mjs).
(module
  (import "env" "mem" (memory $mem 1))
  (func $gemm (param $g i32) (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aBatch i32) (param $aRow i32) (param $aCol i32) (param $b i32) (param $bBatch i32) (param $bRow i32) (param $bCol i32) (param $c i32) (param $mc i32) (param $pack i32) (param $kc i32) (param $mode i32) (param $s i32) (param $sRow i32) (param $shift i32) (param $wT i32) (param $z i32)
    ;; $ar0…$ar3 walk rows i…i+3 of A along p (during packing, $ar0 is the write
    ;; pointer into pack and $ar1 the gather pointer); $acc{r}{q} holds
    ;; C[i + r, j + 4q … j + 4q + 3], $sacc{r} the scalar tiles' C[i + r, j].
    (local $gi i32) (local $i i32) (local $j i32) (local $p i32) (local $bp i32) (local $i0 i32) (local $iEnd i32)
    (local $k0 i32) (local $kLen i32) (local $ar0 i32) (local $ar1 i32) (local $ar2 i32) (local $ar3 i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $vb0 v128) (local $vb1 v128) (local $va v128)
    (local $sacc0 f32) (local $sacc1 f32) (local $sacc2 f32) (local $sacc3 f32) (local $sb f32)
    ;; $tb/$tStep: where the scalar tiles read the current column of B, and the step between its elements
    (local $tb i32) (local $tStep i32)
    (local.set $gi (i32.const 0))
    ;; for each batch gi < g
    (block $batchesDone
      (loop $batches
        (br_if $batchesDone (i32.gt_u (i32.add (local.get $gi) (i32.const 1)) (local.get $g)))
        (local.set $i0 (i32.const 0))
        ;; for each block of mc rows [i0, iEnd)
        (block $rowBlocksDone
          (loop $rowBlocks
            (br_if $rowBlocksDone (i32.ge_u (local.get $i0) (local.get $m)))
            (local.set $iEnd
              (select
                (i32.add (local.get $i0) (local.get $mc))
                (local.get $m)
                (i32.lt_u (i32.add (local.get $i0) (local.get $mc)) (local.get $m))))
            ;; do { kLen = min(kc, k − k0); every column panel } while ((k0 += kc) < k):
            ;; runs once when k = 0, writing zeros
            (local.set $k0 (i32.const 0))
            (loop $kBlocks
              (local.set $kLen
                (select
                  (local.get $kc)
                  (i32.sub (local.get $k) (local.get $k0))
                  (i32.lt_u (local.get $kc) (i32.sub (local.get $k) (local.get $k0)))))
              (local.set $j (i32.const 0))
              ;; 8-column panels j … j+7
              (block $cols8Done
                (loop $cols8
                  (br_if $cols8Done (i32.gt_u (i32.add (local.get $j) (i32.const 8)) (local.get $n)))
                  ;; bp = &B[k0, j]: copy B's kLen × 8 panel into pack, contiguous. Row-major B (bCol = 4) takes two
                  ;; vector loads per row; this matters there too, since with n a power of two the panel's rows fall into a
                  ;; few cache sets and evict each other (1024³: 19 → 46+ GFLOP/s with packing). Transposed B is gathered
                  ;; element by element: kLen·8 loads against the panel's 2·kLen·8·(iEnd − i0) flops.
                  (local.set $bp
                    (i32.add
                      (i32.add (local.get $b) (i32.mul (local.get $k0) (local.get $bRow)))
                      (i32.mul (local.get $j) (local.get $bCol))))
                  (if
                    (local.get $mode)
                    (then
                      (call $packReduced (local.get $pack) (i32.const 8) (local.get $kLen) (local.get $k0) (local.get $j) (local.get $b) (local.get $bRow) (local.get $bCol) (local.get $mode) (local.get $s) (local.get $sRow) (local.get $shift) (local.get $wT) (local.get $z)))
                    (else
                      (if
                        (i32.eq (local.get $bCol) (i32.const 4))
                        (then
                          (local.set $ar0 (local.get $pack))
                          (local.set $p (i32.const 0))
                          (block $pack8Done
                            (loop $pack8
                              (br_if $pack8Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (v128.store (local.get $ar0) (v128.load (local.get $bp)))
                              (v128.store offset=16 (local.get $ar0) (v128.load offset=16 (local.get $bp)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
                              (local.set $ar0 (i32.add (local.get $ar0) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $pack8))))
                        (else
                          (local.set $ar0 (local.get $pack))
                          (local.set $p (i32.const 0))
                          (block $gather8Done
                            (loop $gather8
                              (br_if $gather8Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $ar1 (local.get $bp))
                              (f32.store (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=4 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=8 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=12 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=16 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=20 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=24 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=28 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
                              (local.set $ar0 (i32.add (local.get $ar0) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $gather8)))))))
                  (if
                    ;; the first K block starts from zero, later ones resume from C
                    (i32.eqz (local.get $k0))
                    (then
                      (local.set $i (local.get $i0))
                      ;; 4 × 8 tiles, four rows at a time, from zero
                      (block $rows4x8Done
                        (loop $rows4x8
                          (br_if $rows4x8Done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00 (v128.const f32x4 0 0 0 0))
                          (local.set $acc01 (v128.const f32x4 0 0 0 0))
                          (local.set $acc10 (v128.const f32x4 0 0 0 0))
                          (local.set $acc11 (v128.const f32x4 0 0 0 0))
                          (local.set $acc20 (v128.const f32x4 0 0 0 0))
                          (local.set $acc21 (v128.const f32x4 0 0 0 0))
                          (local.set $acc30 (v128.const f32x4 0 0 0 0))
                          (local.set $acc31 (v128.const f32x4 0 0 0 0))
                          (local.set $p (i32.const 0))
                          ;; for p < kLen: load B's row segment once, splat each row's A[i + r, k0 + p]
                          (block $k4x8Done
                            (loop $k4x8
                              (br_if $k4x8Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $vb1 (v128.load offset=16 (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar1)))
                              (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar2)))
                              (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar3)))
                              (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x8)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc01))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc10))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc11))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc20))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc21))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc30))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc31))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x8)))
                      ;; 1 × 8 tiles, the remaining rows one at a time, from zero
                      (block $rows1x8Done
                        (loop $rows1x8
                          (br_if $rows1x8Done (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00 (v128.const f32x4 0 0 0 0))
                          (local.set $acc01 (v128.const f32x4 0 0 0 0))
                          (local.set $p (i32.const 0))
                          (block $k1x8Done
                            (loop $k1x8
                              (br_if $k1x8Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $vb1 (v128.load offset=16 (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x8)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc01))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x8))))
                    (else
                      (local.set $i (local.get $i0))
                      ;; 4 × 8 tiles, four rows at a time, from the partial sums in C
                      (block $rows4x8rDone
                        (loop $rows4x8r
                          (br_if $rows4x8rDone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc01
                            (v128.load offset=16
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc10
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc11
                            (v128.load offset=16
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc20
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc21
                            (v128.load offset=16
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc30
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc31
                            (v128.load offset=16
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k4x8rDone
                            (loop $k4x8r
                              (br_if $k4x8rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $vb1 (v128.load offset=16 (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar1)))
                              (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar2)))
                              (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar3)))
                              (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x8r)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc01))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc10))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc11))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc20))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc21))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc30))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc31))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x8r)))
                      ;; 1 × 8 tiles, the remaining rows one at a time, from the partial sums in C
                      (block $rows1x8rDone
                        (loop $rows1x8r
                          (br_if $rows1x8rDone (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc01
                            (v128.load offset=16
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k1x8rDone
                            (loop $k1x8r
                              (br_if $k1x8rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $vb1 (v128.load offset=16 (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $va) (local.get $vb1))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x8r)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store offset=16
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc01))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x8r)))))
                  (local.set $j (i32.add (local.get $j) (i32.const 8)))
                  (br $cols8)))
              ;; a 4-column panel j … j+3, packed as above
              (block $cols4Done
                (loop $cols4
                  (br_if $cols4Done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
                  (local.set $bp
                    (i32.add
                      (i32.add (local.get $b) (i32.mul (local.get $k0) (local.get $bRow)))
                      (i32.mul (local.get $j) (local.get $bCol))))
                  (if
                    (local.get $mode)
                    (then
                      (call $packReduced (local.get $pack) (i32.const 4) (local.get $kLen) (local.get $k0) (local.get $j) (local.get $b) (local.get $bRow) (local.get $bCol) (local.get $mode) (local.get $s) (local.get $sRow) (local.get $shift) (local.get $wT) (local.get $z)))
                    (else
                      (if
                        (i32.eq (local.get $bCol) (i32.const 4))
                        (then
                          (local.set $ar0 (local.get $pack))
                          (local.set $p (i32.const 0))
                          (block $pack4Done
                            (loop $pack4
                              (br_if $pack4Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (v128.store (local.get $ar0) (v128.load (local.get $bp)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
                              (local.set $ar0 (i32.add (local.get $ar0) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $pack4))))
                        (else
                          (local.set $ar0 (local.get $pack))
                          (local.set $p (i32.const 0))
                          (block $gather4Done
                            (loop $gather4
                              (br_if $gather4Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $ar1 (local.get $bp))
                              (f32.store (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=4 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=8 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $bCol)))
                              (f32.store offset=12 (local.get $ar0) (f32.load (local.get $ar1)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
                              (local.set $ar0 (i32.add (local.get $ar0) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $gather4)))))))
                  (if
                    ;; the first K block starts from zero, later ones resume from C
                    (i32.eqz (local.get $k0))
                    (then
                      (local.set $i (local.get $i0))
                      ;; 4 × 4 tiles, four rows at a time, from zero
                      (block $rows4x4Done
                        (loop $rows4x4
                          (br_if $rows4x4Done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00 (v128.const f32x4 0 0 0 0))
                          (local.set $acc10 (v128.const f32x4 0 0 0 0))
                          (local.set $acc20 (v128.const f32x4 0 0 0 0))
                          (local.set $acc30 (v128.const f32x4 0 0 0 0))
                          (local.set $p (i32.const 0))
                          (block $k4x4Done
                            (loop $k4x4
                              (br_if $k4x4Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar1)))
                              (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar2)))
                              (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar3)))
                              (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x4)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc10))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc20))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc30))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x4)))
                      ;; 1 × 4 tiles, the remaining rows one at a time, from zero
                      (block $rows1x4Done
                        (loop $rows1x4
                          (br_if $rows1x4Done (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00 (v128.const f32x4 0 0 0 0))
                          (local.set $p (i32.const 0))
                          (block $k1x4Done
                            (loop $k1x4
                              (br_if $k1x4Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x4)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x4))))
                    (else
                      (local.set $i (local.get $i0))
                      ;; 4 × 4 tiles, four rows at a time, from the partial sums in C
                      (block $rows4x4rDone
                        (loop $rows4x4r
                          (br_if $rows4x4rDone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc10
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc20
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $acc30
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k4x4rDone
                            (loop $k4x4r
                              (br_if $k4x4rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar1)))
                              (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar2)))
                              (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $va (v128.load32_splat (local.get $ar3)))
                              (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x4r)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc10))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc20))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc30))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x4r)))
                      ;; 1 × 4 tiles, the remaining rows one at a time, from the partial sums in C
                      (block $rows1x4rDone
                        (loop $rows1x4r
                          (br_if $rows1x4rDone (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $pack))
                          (local.set $acc00
                            (v128.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k1x4rDone
                            (loop $k1x4r
                              (br_if $k1x4rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $vb0 (v128.load (local.get $bp)))
                              (local.set $va (v128.load32_splat (local.get $ar0)))
                              (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $va) (local.get $vb0))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (i32.const 16)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x4r)))
                          (v128.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $acc00))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x4r)))))
                  (local.set $j (i32.add (local.get $j) (i32.const 4)))
                  (br $cols4)))
              ;; the last columns one at a time, as scalar tiles
              (block $cols1Done
                (loop $cols1
                  (br_if $cols1Done (i32.gt_u (i32.add (local.get $j) (i32.const 1)) (local.get $n)))
                  ;; the column's B: read in place with its stride, or (reduced codes) converted into pack first
                  (if
                    (local.get $mode)
                    (then
                      (call $packReduced (local.get $pack) (i32.const 1) (local.get $kLen) (local.get $k0) (local.get $j) (local.get $b) (local.get $bRow) (local.get $bCol) (local.get $mode) (local.get $s) (local.get $sRow) (local.get $shift) (local.get $wT) (local.get $z))
                      (local.set $tb (local.get $pack))
                      (local.set $tStep (i32.const 4)))
                    (else
                      (local.set $tb
                        (i32.add
                          (i32.add (local.get $b) (i32.mul (local.get $k0) (local.get $bRow)))
                          (i32.mul (local.get $j) (local.get $bCol))))
                      (local.set $tStep (local.get $bRow))))
                  (if
                    ;; the first K block starts from zero, later ones resume from C
                    (i32.eqz (local.get $k0))
                    (then
                      (local.set $i (local.get $i0))
                      ;; 4 × 1 (scalar, reading B itself or its converted column) tiles, four rows at a time, from zero
                      (block $rows4x1Done
                        (loop $rows4x1
                          (br_if $rows4x1Done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $tb))
                          (local.set $sacc0 (f32.const 0x0p+0 (;=0;)))
                          (local.set $sacc1 (f32.const 0x0p+0 (;=0;)))
                          (local.set $sacc2 (f32.const 0x0p+0 (;=0;)))
                          (local.set $sacc3 (f32.const 0x0p+0 (;=0;)))
                          (local.set $p (i32.const 0))
                          (block $k4x1Done
                            (loop $k4x1
                              (br_if $k4x1Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $sb (f32.load (local.get $bp)))
                              (local.set $sacc0 (f32.add (local.get $sacc0) (f32.mul (f32.load (local.get $ar0)) (local.get $sb))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $sacc1 (f32.add (local.get $sacc1) (f32.mul (f32.load (local.get $ar1)) (local.get $sb))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $sacc2 (f32.add (local.get $sacc2) (f32.mul (f32.load (local.get $ar2)) (local.get $sb))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $sacc3 (f32.add (local.get $sacc3) (f32.mul (f32.load (local.get $ar3)) (local.get $sb))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $tStep)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x1)))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc0))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc1))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc2))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc3))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x1)))
                      ;; 1 × 1 (scalar, reading B itself or its converted column) tiles, the remaining rows one at a time, from zero
                      (block $rows1x1Done
                        (loop $rows1x1
                          (br_if $rows1x1Done (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $tb))
                          (local.set $sacc0 (f32.const 0x0p+0 (;=0;)))
                          (local.set $p (i32.const 0))
                          (block $k1x1Done
                            (loop $k1x1
                              (br_if $k1x1Done (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $sb (f32.load (local.get $bp)))
                              (local.set $sacc0 (f32.add (local.get $sacc0) (f32.mul (f32.load (local.get $ar0)) (local.get $sb))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $tStep)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x1)))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc0))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x1))))
                    (else
                      (local.set $i (local.get $i0))
                      ;; 4 × 1 (scalar) tiles, four rows at a time, from the partial sums in C
                      (block $rows4x1rDone
                        (loop $rows4x1r
                          (br_if $rows4x1rDone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar1
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar2
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $ar3
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $tb))
                          (local.set $sacc0
                            (f32.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $sacc1
                            (f32.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $sacc2
                            (f32.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $sacc3
                            (f32.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k4x1rDone
                            (loop $k4x1r
                              (br_if $k4x1rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $sb (f32.load (local.get $bp)))
                              (local.set $sacc0 (f32.add (local.get $sacc0) (f32.mul (f32.load (local.get $ar0)) (local.get $sb))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $sacc1 (f32.add (local.get $sacc1) (f32.mul (f32.load (local.get $ar1)) (local.get $sb))))
                              (local.set $ar1 (i32.add (local.get $ar1) (local.get $aCol)))
                              (local.set $sacc2 (f32.add (local.get $sacc2) (f32.mul (f32.load (local.get $ar2)) (local.get $sb))))
                              (local.set $ar2 (i32.add (local.get $ar2) (local.get $aCol)))
                              (local.set $sacc3 (f32.add (local.get $sacc3) (f32.mul (f32.load (local.get $ar3)) (local.get $sb))))
                              (local.set $ar3 (i32.add (local.get $ar3) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $tStep)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k4x1r)))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc0))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc1))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc2))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc3))
                          (local.set $i (i32.add (local.get $i) (i32.const 4)))
                          (br $rows4x1r)))
                      ;; 1 × 1 (scalar) tiles, the remaining rows one at a time, from the partial sums in C
                      (block $rows1x1rDone
                        (loop $rows1x1r
                          (br_if $rows1x1rDone (i32.gt_u (i32.add (local.get $i) (i32.const 1)) (local.get $iEnd)))
                          (local.set $ar0
                            (i32.add
                              (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $aRow)))
                              (i32.mul (local.get $k0) (local.get $aCol))))
                          (local.set $bp (local.get $tb))
                          (local.set $sacc0
                            (f32.load
                              (i32.add
                                (local.get $c)
                                (i32.mul
                                  (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                  (i32.const 4)))))
                          (local.set $p (i32.const 0))
                          (block $k1x1rDone
                            (loop $k1x1r
                              (br_if $k1x1rDone (i32.gt_u (i32.add (local.get $p) (i32.const 1)) (local.get $kLen)))
                              (local.set $sb (f32.load (local.get $bp)))
                              (local.set $sacc0 (f32.add (local.get $sacc0) (f32.mul (f32.load (local.get $ar0)) (local.get $sb))))
                              (local.set $ar0 (i32.add (local.get $ar0) (local.get $aCol)))
                              (local.set $bp (i32.add (local.get $bp) (local.get $tStep)))
                              (local.set $p (i32.add (local.get $p) (i32.const 1)))
                              (br $k1x1r)))
                          (f32.store
                            (i32.add
                              (local.get $c)
                              (i32.mul
                                (i32.add (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $n)) (local.get $j))
                                (i32.const 4)))
                            (local.get $sacc0))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br $rows1x1r)))))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br $cols1)))
              (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
              (br_if $kBlocks (i32.lt_u (local.get $k0) (local.get $k))))
            (local.set $i0 (i32.add (local.get $i0) (local.get $mc)))
            (br $rowBlocks)))
        ;; next batch: A and B by their batch strides (0 broadcasts), C by m·n floats
        (local.set $a (i32.add (local.get $a) (local.get $aBatch)))
        (local.set $b (i32.add (local.get $b) (local.get $bBatch)))
        (local.set $c (i32.add (local.get $c) (i32.mul (i32.mul (local.get $m) (local.get $n)) (i32.const 4))))
        (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
        (br $batches))))

  ;; Packs B's kLen × width panel at (k0, j) into dst (width floats per p, as
  ;; the tiles read it) from reduced-precision codes of a weight W, converting
  ;; each element exactly as core's decodeWeight does: bfloat16 (mode 1,
  ;; 2-byte codes) as its bits << 16; int8 (mode 2, 1-byte codes) as
  ;; code · scale rounded once to f32; int8 with zero points (mode 3, the
;; codes of an asymmetric uint8 file) as (code − zero point) · scale, the
;; difference exact in i32, its zero point at z + (scale offset) / 4 (one
;; byte per block); 4-bit int8 (mode 4, two signed codes per byte, bRow and
;; bCol counted in codes, zero points at z when z ≠ 0) likewise, each code
;; sign-extended from its nibble. Modes 3 and 4 take the scalar loop. B's element (p, j) is W[j, p] when
  ;; wT = 1 (B = Wᵀ, a linear layer's forward) and W[p, j] when wT = 0 (the
  ;; backward's dy·W); the int8 scale of W[row, col] is at
  ;; s + row·sRow + (col >> shift)·4 (one f32 per row and block of 2^shift columns).
  (func $packReduced (param $dst i32) (param $width i32) (param $kLen i32) (param $k0 i32) (param $j i32) (param $b i32) (param $bRow i32) (param $bCol i32) (param $mode i32) (param $s i32) (param $sRow i32) (param $shift i32) (param $wT i32) (param $z i32)
    (local $p i32) (local $q i32) (local $src i32) (local $kp i32) (local $jq i32) (local $so i32) (local $vc v128) (local $vs v128)
    (local.set $p (i32.const 0))
    ;; B = W with W's rows contiguous along j, a panel of 4 or 8 columns (for int8 within one block: j is a
    ;; multiple of the width, and blocks of ≥ 8 columns are required here): each p's codes are converted by
    ;; vector instructions, reading exactly the panel's bytes; f32x4.mul rounds each lane as f32.mul does, so
    ;; the values are those of the scalar loop.
    (if
      (i32.and
        (i32.eqz (local.get $wT))
        (i32.and
          (i32.or (i32.eq (local.get $mode) (i32.const 1)) (i32.and (i32.eq (local.get $mode) (i32.const 2)) (i32.ge_u (local.get $shift) (i32.const 3))))
          (i32.ge_u (local.get $width) (i32.const 4))))
      (then
        (block $vecDone
          (loop $vec
            (br_if $vecDone (i32.ge_u (local.get $p) (local.get $kLen)))
            (local.set $kp (i32.add (local.get $k0) (local.get $p)))
            (local.set $src
              (i32.add
                (i32.add (local.get $b) (i32.mul (local.get $kp) (local.get $bRow)))
                (i32.mul (local.get $j) (local.get $bCol))))
            (if
              (i32.eq (local.get $mode) (i32.const 1))
              (then
                (if
                  (i32.eq (local.get $width) (i32.const 8))
                  (then
                    (local.set $vc (v128.load (local.get $src)))
                    (v128.store offset=16 (local.get $dst) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $vc)) (i32.const 16))))
                  (else (local.set $vc (v128.load64_zero (local.get $src)))))
                (v128.store (local.get $dst) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $vc)) (i32.const 16))))
              (else
                (local.set $vs
                  (f32x4.splat
                    (f32.load
                      (i32.add
                        (i32.add (local.get $s) (i32.mul (local.get $kp) (local.get $sRow)))
                        (i32.shl (i32.shr_u (local.get $j) (local.get $shift)) (i32.const 2))))))
                (if
                  (i32.eq (local.get $width) (i32.const 8))
                  (then
                    (local.set $vc (i16x8.extend_low_i8x16_s (v128.load64_zero (local.get $src))))
                    (v128.store offset=16 (local.get $dst) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $vc))) (local.get $vs))))
                  (else (local.set $vc (i16x8.extend_low_i8x16_s (v128.load32_zero (local.get $src))))))
                (v128.store (local.get $dst) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $vc))) (local.get $vs)))))
            (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $width) (i32.const 2))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $vec)))
        (return)))
    ;; B = Wᵀ, an 8-column panel (the forward's main case): 8 rows of W gathered per p, unrolled as the fp32
    ;; gather is; for int8, $jq walks the 8 rows' scales of p's block.
    (if
      (i32.and (i32.and (local.get $wT) (i32.eq (local.get $width) (i32.const 8))) (i32.lt_u (local.get $mode) (i32.const 3)))
      (then
        (block $fwdDone
          (loop $fwd
            (br_if $fwdDone (i32.ge_u (local.get $p) (local.get $kLen)))
            (local.set $kp (i32.add (local.get $k0) (local.get $p)))
            (local.set $src
              (i32.add
                (i32.add (local.get $b) (i32.mul (local.get $kp) (local.get $bRow)))
                (i32.mul (local.get $j) (local.get $bCol))))
            (if
              (i32.eq (local.get $mode) (i32.const 1))
              (then
                (f32.store (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=4 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=8 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=12 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=16 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=20 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=24 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (f32.store offset=28 (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16)))))
              (else
                (local.set $jq
                  (i32.add
                    (i32.add (local.get $s) (i32.mul (local.get $j) (local.get $sRow)))
                    (i32.shl (i32.shr_u (local.get $kp) (local.get $shift)) (i32.const 2))))
                (f32.store (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=4 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=8 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=12 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=16 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=20 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=24 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (local.get $sRow)))
                (f32.store offset=28 (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $src))) (f32.load (local.get $jq))))))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $fwd)))
        (return)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $kLen)))
        (local.set $kp (i32.add (local.get $k0) (local.get $p)))
        (local.set $src
          (i32.add
            (i32.add (local.get $b) (i32.mul (local.get $kp) (local.get $bRow)))
            (i32.mul (local.get $j) (local.get $bCol))))
        (local.set $jq (local.get $j))
        (local.set $q (i32.const 0))
        (if
          (i32.eq (local.get $mode) (i32.const 1))
          (then
            (block $bf16Done
              (loop $bf16
                (br_if $bf16Done (i32.ge_u (local.get $q) (local.get $width)))
                (f32.store (local.get $dst) (f32.reinterpret_i32 (i32.shl (i32.load16_u (local.get $src)) (i32.const 16))))
                (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $bf16))))
          (else
            (block $int8Done
              (loop $int8
                (br_if $int8Done (i32.ge_u (local.get $q) (local.get $width)))
                ;; $so: the byte offset of W[row, col]'s scale; its zero point (mode 3) is at z + $so / 4
                (local.set $so
                  (if (result i32)
                    (local.get $wT)
                    (then (i32.add (i32.mul (local.get $jq) (local.get $sRow)) (i32.shl (i32.shr_u (local.get $kp) (local.get $shift)) (i32.const 2))))
                    (else (i32.add (i32.mul (local.get $kp) (local.get $sRow)) (i32.shl (i32.shr_u (local.get $jq) (local.get $shift)) (i32.const 2))))))
                (f32.store
                  (local.get $dst)
                  (f32.mul
                    (f32.convert_i32_s
                      (i32.sub
                        (if (result i32)
                          (i32.eq (local.get $mode) (i32.const 4))
                          ;; 4-bit: element e = src − b, in byte b + e/2 (the even element in the low nibble), sign-extended
                          (then
                            (i32.shr_s
                              (i32.shl
                                (i32.shr_u
                                  (i32.load8_u (i32.add (local.get $b) (i32.shr_u (i32.sub (local.get $src) (local.get $b)) (i32.const 1))))
                                  (i32.shl (i32.and (i32.sub (local.get $src) (local.get $b)) (i32.const 1)) (i32.const 2)))
                                (i32.const 28))
                              (i32.const 28)))
                          (else (i32.load8_s (local.get $src))))
                        (if (result i32)
                          (local.get $z)
                          (then (i32.load8_s (i32.add (local.get $z) (i32.shr_u (local.get $so) (i32.const 2)))))
                          (else (i32.const 0)))))
                    (f32.load (i32.add (local.get $s) (local.get $so)))))
                (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                (local.set $src (i32.add (local.get $src) (local.get $bCol)))
                (local.set $jq (i32.add (local.get $jq) (i32.const 1)))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $int8)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $rows))))

  ;; The fp32 product (see the top of this file).
  (func (export "bgemm") (param $g i32) (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aBatch i32) (param $aRow i32) (param $aCol i32) (param $b i32) (param $bBatch i32) (param $bRow i32) (param $bCol i32) (param $c i32) (param $mc i32) (param $pack i32) (param $kc i32)
    (call $gemm
      (local.get $g) (local.get $m) (local.get $n) (local.get $k) (local.get $a) (local.get $aBatch) (local.get $aRow) (local.get $aCol)
      (local.get $b) (local.get $bBatch) (local.get $bRow) (local.get $bCol) (local.get $c) (local.get $mc) (local.get $pack) (local.get $kc)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))

  ;; C[m×n] = A·B for one A (fp32, strided) and a B of reduced-precision codes
  ;; (mode 1 bfloat16, 2 int8, 3 int8 with zero points at z, 4 4-bit int8; b,
  ;; bRow, bCol in bytes of codes (mode 4: in codes); s, sRow, shift, wT, z as
  ;; in $packReduced).
  (func (export "rgemm") (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aRow i32) (param $aCol i32) (param $b i32) (param $bRow i32) (param $bCol i32) (param $c i32) (param $mc i32) (param $pack i32) (param $kc i32) (param $mode i32) (param $s i32) (param $sRow i32) (param $shift i32) (param $wT i32) (param $z i32)
    (call $gemm
      (i32.const 1) (local.get $m) (local.get $n) (local.get $k) (local.get $a) (i32.const 0) (local.get $aRow) (local.get $aCol)
      (local.get $b) (i32.const 0) (local.get $bRow) (local.get $bCol) (local.get $c) (local.get $mc) (local.get $pack) (local.get $kc)
      (local.get $mode) (local.get $s) (local.get $sRow) (local.get $shift) (local.get $wT) (local.get $z))))
