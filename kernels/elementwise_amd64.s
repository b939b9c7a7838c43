//go:build amd64 && !noasm

#include "textflag.h"

// The elementwise kernels of elementwise_amd64.go. Matrices are row-major,
// rows×cols; each row goes eight columns at a time, then one at a time for
// its last cols%8 columns. Only AVX instructions, and no FMA: every result
// is rounded as in the Go loops. Column vectors (bias, sums, statistics) are
// indexed by the column, AX; matrix pointers move on by a row, R8 bytes.
//
// Operand order is Go's: VSUBPS b, a, d sets d = a − b; VMAXPS x, lo, d sets
// d = lo if lo > x else x (so NaN and −0 in x are kept, as by the Go test
// x < 0); VCMPPS $0x11, h, zero, d sets d = (0 < h) ordered, false for NaN.

// func biasActAVX(z, bias []float32, rows, cols int, lo float32)
TEXT ·biasActAVX(SB), NOSPLIT, $0-68
	MOVQ         z_base+0(FP), DI
	MOVQ         bias_base+24(FP), SI
	MOVQ         rows+48(FP), CX
	MOVQ         cols+56(FP), DX
	VBROADCASTSS lo+64(FP), Y15
	MOVQ         DX, BX
	ANDQ         $~7, BX
	MOVQ         DX, R8
	SHLQ         $2, R8

biasact_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  biasact_tail

biasact_vec:
	VMOVUPS (DI)(AX*4), Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	VMAXPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      biasact_vec

biasact_tail:
	CMPQ   AX, DX
	JGE    biasact_next
	VMOVSS (DI)(AX*4), X0
	VADDSS (SI)(AX*4), X0, X0
	VMAXSS X0, X15, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    biasact_tail

biasact_next:
	ADDQ R8, DI
	DECQ CX
	JNZ  biasact_row
	VZEROUPPER
	RET

// func reluAVX(v []float32)
TEXT ·reluAVX(SB), NOSPLIT, $0-24
	MOVQ   v_base+0(FP), DI
	MOVQ   v_len+8(FP), DX
	ANDQ   $~7, DX
	MOVQ   DX, BX
	ANDQ   $~31, BX
	VXORPS Y15, Y15, Y15
	XORQ   AX, AX
	JMP    relu_check4

relu_loop4:
	VMAXPS  (DI)(AX*4), Y15, Y0
	VMAXPS  32(DI)(AX*4), Y15, Y1
	VMAXPS  64(DI)(AX*4), Y15, Y2
	VMAXPS  96(DI)(AX*4), Y15, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX

relu_check4:
	CMPQ AX, BX
	JL   relu_loop4

relu_loop1:
	CMPQ    AX, DX
	JGE     relu_done
	VMAXPS  (DI)(AX*4), Y15, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     relu_loop1

relu_done:
	VZEROUPPER
	RET

// func reluBackwardAVX(dz, g, h []float32)
TEXT ·reluBackwardAVX(SB), NOSPLIT, $0-72
	MOVQ   dz_base+0(FP), DI
	MOVQ   dz_len+8(FP), DX
	MOVQ   g_base+24(FP), SI
	MOVQ   h_base+48(FP), R9
	ANDQ   $~7, DX
	MOVQ   DX, BX
	ANDQ   $~15, BX
	VXORPS Y15, Y15, Y15
	XORQ   AX, AX
	JMP    reluback_check2

reluback_loop2:
	VCMPPS  $0x11, (R9)(AX*4), Y15, Y0
	VCMPPS  $0x11, 32(R9)(AX*4), Y15, Y1
	VANDPS  (SI)(AX*4), Y0, Y0
	VANDPS  32(SI)(AX*4), Y1, Y1
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	ADDQ    $16, AX

reluback_check2:
	CMPQ AX, BX
	JL   reluback_loop2

reluback_loop1:
	CMPQ    AX, DX
	JGE     reluback_done
	VCMPPS  $0x11, (R9)(AX*4), Y15, Y0
	VANDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     reluback_loop1

reluback_done:
	VZEROUPPER
	RET

// func actBackwardSumsAVX(dz, g, h, sums []float32, rows, cols int, keep uint32)
TEXT ·actBackwardSumsAVX(SB), NOSPLIT, $0-116
	MOVQ         dz_base+0(FP), DI
	MOVQ         g_base+24(FP), SI
	MOVQ         h_base+48(FP), R9
	MOVQ         sums_base+72(FP), R10
	MOVQ         rows+96(FP), CX
	MOVQ         cols+104(FP), DX
	VBROADCASTSS keep+112(FP), Y14
	VXORPS       Y15, Y15, Y15
	MOVQ         DX, BX
	ANDQ         $~7, BX
	MOVQ         DX, R8
	SHLQ         $2, R8

actback_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  actback_tail

actback_vec:
	VCMPPS  $0x11, (R9)(AX*4), Y15, Y0
	VORPS   Y14, Y0, Y0
	VANDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	VADDPS  (R10)(AX*4), Y0, Y0
	VMOVUPS Y0, (R10)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      actback_vec

actback_tail:
	CMPQ   AX, DX
	JGE    actback_next
	VCMPSS $0x11, (R9)(AX*4), X15, X0
	VORPS  X14, X0, X0
	VMOVSS (SI)(AX*4), X1
	VANDPS X1, X0, X0
	VMOVSS X0, (DI)(AX*4)
	VADDSS (R10)(AX*4), X0, X0
	VMOVSS X0, (R10)(AX*4)
	INCQ   AX
	JMP    actback_tail

actback_next:
	ADDQ R8, DI
	ADDQ R8, SI
	ADDQ R8, R9
	DECQ CX
	JNZ  actback_row
	VZEROUPPER
	RET

// func addColumnsAVX(sums, m []float32, rows, cols int)
TEXT ·addColumnsAVX(SB), NOSPLIT, $0-64
	MOVQ sums_base+0(FP), DI
	MOVQ m_base+24(FP), SI
	MOVQ rows+48(FP), CX
	MOVQ cols+56(FP), DX
	MOVQ DX, BX
	ANDQ $~7, BX
	MOVQ DX, R8
	SHLQ $2, R8

addcol_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  addcol_tail

addcol_vec:
	VMOVUPS (SI)(AX*4), Y0
	VADDPS  (DI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      addcol_vec

addcol_tail:
	CMPQ   AX, DX
	JGE    addcol_next
	VMOVSS (SI)(AX*4), X0
	VADDSS (DI)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    addcol_tail

addcol_next:
	ADDQ R8, SI
	DECQ CX
	JNZ  addcol_row
	VZEROUPPER
	RET

// func addSqDevAVX(ss, z, mean []float32, rows, cols int)
TEXT ·addSqDevAVX(SB), NOSPLIT, $0-88
	MOVQ ss_base+0(FP), DI
	MOVQ z_base+24(FP), SI
	MOVQ mean_base+48(FP), R9
	MOVQ rows+72(FP), CX
	MOVQ cols+80(FP), DX
	MOVQ DX, BX
	ANDQ $~7, BX
	MOVQ DX, R8
	SHLQ $2, R8

sqdev_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  sqdev_tail

sqdev_vec:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS  (R9)(AX*4), Y0, Y0
	VMULPS  Y0, Y0, Y0
	VADDPS  (DI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      sqdev_vec

sqdev_tail:
	CMPQ   AX, DX
	JGE    sqdev_next
	VMOVSS (SI)(AX*4), X0
	VSUBSS (R9)(AX*4), X0, X0
	VMULSS X0, X0, X0
	VADDSS (DI)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    sqdev_tail

sqdev_next:
	ADDQ R8, SI
	DECQ CX
	JNZ  sqdev_row
	VZEROUPPER
	RET

// func normAffineAVX(z, xhat, mean, invStd, gamma, beta []float32, rows, cols int)
TEXT ·normAffineAVX(SB), NOSPLIT, $0-160
	MOVQ z_base+0(FP), DI
	MOVQ xhat_base+24(FP), SI
	MOVQ mean_base+48(FP), R9
	MOVQ invStd_base+72(FP), R10
	MOVQ gamma_base+96(FP), R11
	MOVQ beta_base+120(FP), R12
	MOVQ rows+144(FP), CX
	MOVQ cols+152(FP), DX
	MOVQ DX, BX
	ANDQ $~7, BX
	MOVQ DX, R8
	SHLQ $2, R8

norm_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  norm_tail

norm_vec:
	VMOVUPS (DI)(AX*4), Y0
	VSUBPS  (R9)(AX*4), Y0, Y0
	VMULPS  (R10)(AX*4), Y0, Y0
	VMOVUPS Y0, (SI)(AX*4)
	VMULPS  (R11)(AX*4), Y0, Y0
	VADDPS  (R12)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      norm_vec

norm_tail:
	CMPQ   AX, DX
	JGE    norm_next
	VMOVSS (DI)(AX*4), X0
	VSUBSS (R9)(AX*4), X0, X0
	VMULSS (R10)(AX*4), X0, X0
	VMOVSS X0, (SI)(AX*4)
	VMULSS (R11)(AX*4), X0, X0
	VADDSS (R12)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    norm_tail

norm_next:
	ADDQ R8, DI
	ADDQ R8, SI
	DECQ CX
	JNZ  norm_row
	VZEROUPPER
	RET

// func bnGradSumsAVX(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int)
TEXT ·bnGradSumsAVX(SB), NOSPLIT, $0-112
	MOVQ betaGrad_base+0(FP), DI
	MOVQ gammaGrad_base+24(FP), SI
	MOVQ dy_base+48(FP), R9
	MOVQ xhat_base+72(FP), R10
	MOVQ rows+96(FP), CX
	MOVQ cols+104(FP), DX
	MOVQ DX, BX
	ANDQ $~7, BX
	MOVQ DX, R8
	SHLQ $2, R8

bnsums_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  bnsums_tail

bnsums_vec:
	VMOVUPS (R9)(AX*4), Y0
	VADDPS  (DI)(AX*4), Y0, Y1
	VMOVUPS Y1, (DI)(AX*4)
	VMULPS  (R10)(AX*4), Y0, Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (SI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      bnsums_vec

bnsums_tail:
	CMPQ   AX, DX
	JGE    bnsums_next
	VMOVSS (R9)(AX*4), X0
	VADDSS (DI)(AX*4), X0, X1
	VMOVSS X1, (DI)(AX*4)
	VMULSS (R10)(AX*4), X0, X0
	VADDSS (SI)(AX*4), X0, X0
	VMOVSS X0, (SI)(AX*4)
	INCQ   AX
	JMP    bnsums_tail

bnsums_next:
	ADDQ R8, R9
	ADDQ R8, R10
	DECQ CX
	JNZ  bnsums_row
	VZEROUPPER
	RET

// func bnInputGradAVX(dy, xhat, c, betaGrad, gammaGrad []float32, rows, ld int, n float32)
//
// The row width is len(c); rows are ld elements apart in dy and xhat.
TEXT ·bnInputGradAVX(SB), NOSPLIT, $0-140
	MOVQ         dy_base+0(FP), DI
	MOVQ         xhat_base+24(FP), SI
	MOVQ         c_base+48(FP), R9
	MOVQ         c_len+56(FP), DX
	MOVQ         betaGrad_base+72(FP), R10
	MOVQ         gammaGrad_base+96(FP), R11
	MOVQ         rows+120(FP), CX
	MOVQ         ld+128(FP), R8
	VBROADCASTSS n+136(FP), Y15
	MOVQ         DX, BX
	ANDQ         $~7, BX
	SHLQ         $2, R8

bnin_row:
	XORQ AX, AX
	CMPQ AX, BX
	JGE  bnin_tail

bnin_vec:
	VMULPS  (DI)(AX*4), Y15, Y0
	VSUBPS  (R10)(AX*4), Y0, Y0
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  (R11)(AX*4), Y1, Y1
	VSUBPS  Y1, Y0, Y0
	VMULPS  (R9)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, BX
	JL      bnin_vec

bnin_tail:
	CMPQ   AX, DX
	JGE    bnin_next
	VMULSS (DI)(AX*4), X15, X0
	VSUBSS (R10)(AX*4), X0, X0
	VMOVSS (SI)(AX*4), X1
	VMULSS (R11)(AX*4), X1, X1
	VSUBSS X1, X0, X0
	VMULSS (R9)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    bnin_tail

bnin_next:
	ADDQ R8, DI
	ADDQ R8, SI
	DECQ CX
	JNZ  bnin_row
	VZEROUPPER
	RET

// func finiteAVX(v []float32) bool
//
// Sums v − v in four accumulators of eight (0 for a finite v, NaN for NaN
// and ±Inf), then tests the sum for NaN (unordered with itself).
TEXT ·finiteAVX(SB), NOSPLIT, $0-25
	MOVQ   v_base+0(FP), DI
	MOVQ   v_len+8(FP), DX
	ANDQ   $~7, DX
	MOVQ   DX, BX
	ANDQ   $~31, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	JMP    finite_check4

finite_loop4:
	VMOVUPS (DI)(AX*4), Y4
	VMOVUPS 32(DI)(AX*4), Y5
	VMOVUPS 64(DI)(AX*4), Y6
	VMOVUPS 96(DI)(AX*4), Y7
	VSUBPS  Y4, Y4, Y4
	VSUBPS  Y5, Y5, Y5
	VSUBPS  Y6, Y6, Y6
	VSUBPS  Y7, Y7, Y7
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	ADDQ    $32, AX

finite_check4:
	CMPQ AX, BX
	JL   finite_loop4

finite_loop1:
	CMPQ    AX, DX
	JGE     finite_sum
	VMOVUPS (DI)(AX*4), Y4
	VSUBPS  Y4, Y4, Y4
	VADDPS  Y4, Y0, Y0
	ADDQ    $8, AX
	JMP     finite_loop1

finite_sum:
	VADDPS    Y1, Y0, Y0
	VADDPS    Y3, Y2, Y2
	VADDPS    Y2, Y0, Y0
	VCMPPS    $3, Y0, Y0, Y0 // unordered: NaN
	VMOVMSKPS Y0, AX
	TESTL     AX, AX
	SETEQ     ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX(v []float32, s float32)
TEXT ·scaleAVX(SB), NOSPLIT, $0-28
	MOVQ         v_base+0(FP), DI
	MOVQ         v_len+8(FP), DX
	VBROADCASTSS s+24(FP), Y15
	ANDQ         $~7, DX
	MOVQ         DX, BX
	ANDQ         $~31, BX
	XORQ         AX, AX
	JMP          scale_check4

scale_loop4:
	VMULPS  (DI)(AX*4), Y15, Y0
	VMULPS  32(DI)(AX*4), Y15, Y1
	VMULPS  64(DI)(AX*4), Y15, Y2
	VMULPS  96(DI)(AX*4), Y15, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX

scale_check4:
	CMPQ AX, BX
	JL   scale_loop4

scale_loop1:
	CMPQ    AX, DX
	JGE     scale_done
	VMULPS  (DI)(AX*4), Y15, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     scale_loop1

scale_done:
	VZEROUPPER
	RET

// func squaredErrorAVX(grad, pred, target []float32, w2 float32) float64
//
// d = pred − target in float32, as in Go; d² is exact in float64 (a float32
// has 24 significant bits), and the squares go into two accumulators of four
// float64 lanes each, added together at the end.
TEXT ·squaredErrorAVX(SB), NOSPLIT, $0-88
	MOVQ         grad_base+0(FP), DI
	MOVQ         grad_len+8(FP), R8
	MOVQ         pred_base+24(FP), SI
	MOVQ         pred_len+32(FP), DX
	MOVQ         target_base+48(FP), R9
	VBROADCASTSS w2+72(FP), Y15
	ANDQ         $~7, DX
	VXORPD       Y4, Y4, Y4
	VXORPD       Y5, Y5, Y5
	XORQ         AX, AX

sqerr_loop:
	CMPQ         AX, DX
	JGE          sqerr_done
	VMOVUPS      (SI)(AX*4), Y0
	VSUBPS       (R9)(AX*4), Y0, Y0
	TESTQ        R8, R8
	JZ           sqerr_sum
	VMULPS       Y0, Y15, Y1
	VMOVUPS      Y1, (DI)(AX*4)

sqerr_sum:
	VCVTPS2PD    X0, Y2
	VEXTRACTF128 $1, Y0, X3
	VCVTPS2PD    X3, Y3
	VMULPD       Y2, Y2, Y2
	VMULPD       Y3, Y3, Y3
	VADDPD       Y2, Y4, Y4
	VADDPD       Y3, Y5, Y5
	ADDQ         $8, AX
	JMP          sqerr_loop

sqerr_done:
	VADDPD       Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD       X5, X4, X4
	VHADDPD      X4, X4, X4
	VMOVSD       X4, ret+80(FP)
	VZEROUPPER
	RET

// func scaleBytesAVX(dst []float32, src []byte, div, sub, mul float32)
//
// Eight bytes a step: each four widened to 32-bit integers (AVX has no
// 256-bit VPMOVZXBD), then converted, divided, offset and scaled as floats.
TEXT ·scaleBytesAVX(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         src_base+24(FP), SI
	MOVQ         src_len+32(FP), DX
	VBROADCASTSS div+48(FP), Y13
	VBROADCASTSS sub+52(FP), Y14
	VBROADCASTSS mul+56(FP), Y15
	ANDQ         $~7, DX
	XORQ         AX, AX

bytes_loop:
	CMPQ        AX, DX
	JGE         bytes_done
	VPMOVZXBD   (SI)(AX*1), X0
	VPMOVZXBD   4(SI)(AX*1), X1
	VINSERTF128 $1, X1, Y0, Y0
	VCVTDQ2PS   Y0, Y0
	VDIVPS      Y13, Y0, Y0
	VSUBPS      Y14, Y0, Y0
	VMULPS      Y15, Y0, Y0
	VMOVUPS     Y0, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         bytes_loop

bytes_done:
	VZEROUPPER
	RET
