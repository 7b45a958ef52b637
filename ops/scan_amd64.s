//go:build amd64 && !purego

#include "textflag.h"

// func scanAVX512(data []float64) float64
//
// Returns Σ (x − x) over data (len a multiple of 32) in four eight-lane
// accumulators: 0 when every element is finite, NaN otherwise (x − x is
// NaN for a NaN or ±Inf, and a NaN stays NaN under addition; a sum of
// zeros cannot overflow).
TEXT ·scanAVX512(SB), NOSPLIT, $0-32
	MOVQ data_base+0(FP), SI
	MOVQ data_len+8(FP), CX
	VXORPD Z4, Z4, Z4
	VXORPD Z5, Z5, Z5
	VXORPD Z6, Z6, Z6
	VXORPD Z7, Z7, Z7
	SHRQ $5, CX
	JZ reduce

loop:
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z1
	VMOVUPD 128(SI), Z2
	VMOVUPD 192(SI), Z3
	VSUBPD Z0, Z0, Z0
	VSUBPD Z1, Z1, Z1
	VSUBPD Z2, Z2, Z2
	VSUBPD Z3, Z3, Z3
	VADDPD Z0, Z4, Z4
	VADDPD Z1, Z5, Z5
	VADDPD Z2, Z6, Z6
	VADDPD Z3, Z7, Z7
	ADDQ $256, SI
	DECQ CX
	JNZ loop

reduce:
	VADDPD Z5, Z4, Z4
	VADDPD Z7, Z6, Z6
	VADDPD Z6, Z4, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VADDPD Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD X5, X4, X4
	VPERMILPD $1, X4, X5
	VADDSD X5, X4, X4
	VZEROUPPER
	MOVSD X4, ret+24(FP)
	RET
