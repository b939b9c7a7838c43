//go:build amd64 && !noasm

#include "textflag.h"

// func sgemmPackTransAVX(kc int, src []float32, lds int, dst []float32, width int)
//
// Transposes width rows of kc elements, lds elements apart in src, into dst:
// element p of row r goes to dst[p·width+r]. kc is a positive multiple of 4
// and width a positive even number. Each group of four rows is transposed
// along the whole of k in 4×4 blocks, then a last pair of rows, if any, in
// 2×4 blocks: a few rows at a time, so that rows whose addresses differ by a
// multiple of 4 KiB do not evict one another from the L1 cache.
TEXT ·sgemmPackTransAVX(SB), NOSPLIT, $0-72
	MOVQ src_base+8(FP), SI
	MOVQ lds+32(FP), R8
	SHLQ $2, R8              // source row stride in bytes
	MOVQ dst_base+40(FP), DI
	MOVQ width+64(FP), DX    // rows left
	MOVQ DX, R10
	SHLQ $2, R10             // destination row stride in bytes
	LEAQ (R8)(R8*2), R11     // 3 source rows
	LEAQ (R10)(R10*2), R12   // 3 destination rows

group4:
	CMPQ DX, $4
	JLT  group2
	MOVQ kc+0(FP), CX
	SHRQ $2, CX              // blocks of 4 steps of k
	MOVQ SI, AX              // src + r·lds + p
	MOVQ DI, BX              // dst + p·width + r

	// Rows are short (kc elements): start fetching the next group's rows
	// now, since the hardware prefetcher has little time to find them.
	LEAQ (SI)(R8*4), R13
	PREFETCHT0 (R13)
	PREFETCHT0 64(R13)
	PREFETCHT0 128(R13)
	PREFETCHT0 192(R13)
	PREFETCHT0 (R13)(R8*1)
	PREFETCHT0 64(R13)(R8*1)
	PREFETCHT0 128(R13)(R8*1)
	PREFETCHT0 192(R13)(R8*1)
	PREFETCHT0 (R13)(R8*2)
	PREFETCHT0 64(R13)(R8*2)
	PREFETCHT0 128(R13)(R8*2)
	PREFETCHT0 192(R13)(R8*2)
	PREFETCHT0 (R13)(R11*1)
	PREFETCHT0 64(R13)(R11*1)
	PREFETCHT0 128(R13)(R11*1)
	PREFETCHT0 192(R13)(R11*1)

block4:
	PREFETCHT0 256(AX)
	PREFETCHT0 256(AX)(R8*1)
	PREFETCHT0 256(AX)(R8*2)
	PREFETCHT0 256(AX)(R11*1)
	VMOVUPS (AX), X0
	VMOVUPS (AX)(R8*1), X1
	VMOVUPS (AX)(R8*2), X2
	VMOVUPS (AX)(R11*1), X3
	VUNPCKLPS X1, X0, X4     // r0[0] r1[0] r0[1] r1[1]
	VUNPCKHPS X1, X0, X5     // r0[2] r1[2] r0[3] r1[3]
	VUNPCKLPS X3, X2, X6     // r2[0] r3[0] r2[1] r3[1]
	VUNPCKHPS X3, X2, X7     // r2[2] r3[2] r2[3] r3[3]
	VMOVLHPS  X6, X4, X0     // r0[0] r1[0] r2[0] r3[0]
	VMOVHLPS  X4, X6, X1     // r0[1] r1[1] r2[1] r3[1]
	VMOVLHPS  X7, X5, X2     // r0[2] r1[2] r2[2] r3[2]
	VMOVHLPS  X5, X7, X3     // r0[3] r1[3] r2[3] r3[3]
	VMOVUPS X0, (BX)
	VMOVUPS X1, (BX)(R10*1)
	VMOVUPS X2, (BX)(R10*2)
	VMOVUPS X3, (BX)(R12*1)
	ADDQ $16, AX
	LEAQ (BX)(R10*4), BX
	DECQ CX
	JNZ  block4

	LEAQ (SI)(R8*4), SI
	ADDQ $16, DI
	SUBQ $4, DX
	JMP  group4

group2:
	TESTQ DX, DX
	JZ    done
	MOVQ  kc+0(FP), CX
	SHRQ  $2, CX

block2:
	VMOVUPS (SI), X0
	VMOVUPS (SI)(R8*1), X1
	VUNPCKLPS X1, X0, X4     // r0[0] r1[0] r0[1] r1[1]
	VUNPCKHPS X1, X0, X5     // r0[2] r1[2] r0[3] r1[3]
	VMOVLPS X4, (DI)
	VMOVHPS X4, (DI)(R10*1)
	VMOVLPS X5, (DI)(R10*2)
	VMOVHPS X5, (DI)(R12*1)
	ADDQ $16, SI
	LEAQ (DI)(R10*4), DI
	DECQ CX
	JNZ  block2

done:
	RET

// func sgemmPackPanelsAVX(kc int, src []float32, lds int, dst []float32, width, panels int)
//
// Copies a kc×(panels·width) block of src, rows lds elements apart, into
// panels consecutive panels of dst, each kc×width and stored row by row:
// element (p, q·width+x) goes to dst[q·kc·width + p·width + x]. kc, panels
// ≥ 1; width is a positive even number. Other widths read the block row by
// row, along memory; the widths of the AVX2 micro-kernel's panels, 16
// (op(B)) and 6 (op(A)ᵀ), have a loop of their own (below): the general
// one's bookkeeping per row of a panel halved the speed of the copy.
TEXT ·sgemmPackPanelsAVX(SB), NOSPLIT, $0-80
	MOVQ kc+0(FP), CX
	MOVQ src_base+8(FP), SI
	MOVQ lds+32(FP), R8
	SHLQ $2, R8              // source row stride in bytes
	MOVQ dst_base+40(FP), DI
	MOVQ width+64(FP), R9
	SHLQ $2, R9              // panel row in bytes
	MOVQ R9, R10
	IMULQ CX, R10            // panel stride in bytes: kc·width·4
	CMPQ R9, $64
	JEQ  blocks
	CMPQ R9, $24
	JEQ  blocks
	CMPQ R9, $128
	JEQ  blocks
	CMPQ R9, $48
	JEQ  blocks

row:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ panels+72(FP), R11

panel:
	MOVQ R9, DX              // bytes left in this panel row
	XORQ R12, R12

copy32:
	CMPQ DX, $32
	JLT  copy16
	VMOVUPS (AX)(R12*1), Y0
	VMOVUPS Y0, (BX)(R12*1)
	ADDQ $32, R12
	SUBQ $32, DX
	JMP  copy32

copy16:
	CMPQ DX, $16
	JLT  copy8
	VMOVUPS (AX)(R12*1), X0
	VMOVUPS X0, (BX)(R12*1)
	ADDQ $16, R12
	SUBQ $16, DX

copy8:
	TESTQ DX, DX
	JZ    nextpanel
	MOVQ  (AX)(R12*1), R13
	MOVQ  R13, (BX)(R12*1)

nextpanel:
	ADDQ R9, AX
	ADDQ R10, BX
	DECQ R11
	JNZ  panel

	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  row
	VZEROUPPER
	RET

	// The micro-kernels' widths, 16 and 32 (op(B)), 6 and 12 (op(A)ᵀ):
	// blocks of up to 8 rows, a panel at a time, so that each panel's share
	// of a block is written in one burst of whole cache lines. Row by row,
	// the pieces went to panels kc·width·4 bytes apart, which share few
	// sets of the L1 cache: lines were evicted half written, and the
	// general loop's bookkeeping per piece cost as much as the copy
	// (BenchmarkSgemmPack, AVX-512 blocking, ldb 1024: 18 GB/s row by row,
	// 48 in blocks).
blocks:
	MOVQ $8, R14
	CMPQ CX, R14
	CMOVQLT CX, R14          // rows in this block
	MOVQ SI, AX              // the block's part of panel q, in src
	MOVQ DI, BX              // and in dst
	MOVQ panels+72(FP), R11

blockpanel:
	MOVQ AX, R12
	MOVQ BX, R13
	MOVQ R14, DX
	CMPQ R9, $128
	JEQ  rows32
	CMPQ R9, $48
	JEQ  rows12
	CMPQ R9, $64
	JNE  rows6

rows16:
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS Y0, (R13)
	VMOVUPS Y1, 32(R13)
	ADDQ R8, R12
	ADDQ $64, R13
	DECQ DX
	JNZ  rows16
	JMP  nextblockpanel

rows32:
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	VMOVUPS Y0, (R13)
	VMOVUPS Y1, 32(R13)
	VMOVUPS Y2, 64(R13)
	VMOVUPS Y3, 96(R13)
	ADDQ R8, R12
	ADDQ $128, R13
	DECQ DX
	JNZ  rows32
	JMP  nextblockpanel

rows12:
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), X1
	VMOVUPS Y0, (R13)
	VMOVUPS X1, 32(R13)
	ADDQ R8, R12
	ADDQ $48, R13
	DECQ DX
	JNZ  rows12
	JMP  nextblockpanel

rows6:
	VMOVUPS (R12), X0
	MOVQ    16(R12), X1
	VMOVUPS X0, (R13)
	MOVQ    X1, 16(R13)
	ADDQ R8, R12
	ADDQ $24, R13
	DECQ DX
	JNZ  rows6

nextblockpanel:
	ADDQ R9, AX
	ADDQ R10, BX
	DECQ R11
	JNZ  blockpanel

	MOVQ R14, DX
	IMULQ R8, DX
	ADDQ DX, SI              // the next block of rows
	MOVQ R14, DX
	IMULQ R9, DX
	ADDQ DX, DI
	SUBQ R14, CX
	JNZ  blocks
	VZEROUPPER
	RET
