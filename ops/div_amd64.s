//go:build amd64 && !purego

#include "textflag.h"

// func divideAVX512(out, x, y []float64, acc *[8]float64)
//
// out[i] = x[i] / y[i] for i < len(out) (a multiple of 8; x and y at least
// as long), eight at a time (VDIVPD: IEEE division, the same bits as the
// scalar DIVSD), and acc[k] += q − q for every quotient q in lane k.
TEXT ·divideAVX512(SB), NOSPLIT, $0-80
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	MOVQ acc+72(FP), AX
	VMOVUPD (AX), Z4
	SHRQ $3, CX
	JZ done

loop:
	VMOVUPD (SI), Z0
	VDIVPD (DX), Z0, Z1
	VMOVUPD Z1, (DI)
	VSUBPD Z1, Z1, Z2
	VADDPD Z2, Z4, Z4
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ loop

done:
	VMOVUPD Z4, (AX)
	VZEROUPPER
	RET
