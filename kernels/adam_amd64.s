//go:build amd64 && !noasm

#include "textflag.h"

// func adamAVX2(w, g, m, v []float32, b1, ob1, b2, ob2, stepSize, invSqrtC2, eps float32)
//
// Updates the first len(w)&^7 elements, 8 at a time:
//   m = b1·m + ob1·g;  v = b2·v + ob2·g²;  w -= stepSize·m / (√v·invSqrtC2 + eps)
//
// Where the CPU has PREFETCHW (hasPrefetchW), the lines of w are taken with
// intent to write 2 KiB ahead, up to the end of w. With two threads every
// core has read all of w since the last update (each part of a batch packs
// all of a layer's weights), so each store would otherwise wait for the
// other core to give its copy of the line up. On a 2-core Zen 5, CPU profiles of 8 epochs of
// bprop had 0.61 s in Adam on two threads against 0.21 s on one; with the
// prefetch, 0.14 s on two, and the epoch 7% shorter.
TEXT ·adamAVX2(SB), NOSPLIT, $0-124
	MOVQ w_base+0(FP), DI
	MOVQ w_len+8(FP), DX
	MOVQ g_base+24(FP), SI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	VBROADCASTSS b1+96(FP), Y8
	VBROADCASTSS ob1+100(FP), Y9
	VBROADCASTSS b2+104(FP), Y10
	VBROADCASTSS ob2+108(FP), Y11
	VBROADCASTSS stepSize+112(FP), Y12
	VBROADCASTSS invSqrtC2+116(FP), Y13
	VBROADCASTSS eps+120(FP), Y14
	ANDQ $~7, DX
	XORQ AX, AX
	// R10: the prefetches stop 2 KiB (512 elements) before the end, so as
	// not to take lines of the part another core updates; 0 without
	// PREFETCHW, so that none runs.
	MOVQ DX, R10
	SUBQ $512, R10
	MOVBLZX ·hasPrefetchW(SB), BX
	TESTL BX, BX
	JNZ  loop
	XORQ R10, R10

loop:
	CMPQ AX, DX
	JGE  done
	CMPQ AX, R10
	JGE  update
	// PREFETCHW 2048(DI)(AX*4)
	BYTE $0x0F; BYTE $0x0D; BYTE $0x8C; BYTE $0x87; BYTE $0x00; BYTE $0x08; BYTE $0x00; BYTE $0x00

update:
	VMOVUPS     (SI)(AX*4), Y0
	VMULPS      (R8)(AX*4), Y8, Y1
	VFMADD231PS Y0, Y9, Y1
	VMOVUPS     Y1, (R8)(AX*4)
	VMULPS      Y0, Y0, Y2
	VMULPS      (R9)(AX*4), Y10, Y3
	VFMADD231PS Y2, Y11, Y3
	VMOVUPS     Y3, (R9)(AX*4)
	VSQRTPS     Y3, Y4
	VMULPS      Y13, Y4, Y4
	VADDPS      Y14, Y4, Y4
	VMULPS      Y12, Y1, Y5
	VDIVPS      Y4, Y5, Y5
	VMOVUPS     (DI)(AX*4), Y6
	VSUBPS      Y5, Y6, Y6
	VMOVUPS     Y6, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         loop

done:
	VZEROUPPER
	RET
