//go:build amd64 && !noasm

#include "textflag.h"

// func prefetchLines(b []byte)
// PREFETCHT0 on every cache line that b touches: the first byte's line,
// every 64 bytes on, and the last byte's line.
TEXT ·prefetchLines(SB), NOSPLIT, $0-24
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	TESTQ CX, CX
	JEQ  prefetch_done
	LEAQ -1(SI)(CX*1), DX

prefetch_loop:
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	CMPQ       SI, DX
	JLS        prefetch_loop
	PREFETCHT0 (DX)

prefetch_done:
	RET
