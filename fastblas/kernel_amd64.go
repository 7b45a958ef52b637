//go:build amd64 && !purego

package fastblas

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen -out kernels_amd64.s

//go:noescape
func kernelAVX2(k int, a, b, c *float64, ldc int, alpha float64)

//go:noescape
func kernelAVX512(k int, a, b, c *float64, ldc int, alpha float64)

//go:noescape
func kernelAVX2Trsm(k int, a, b, c *float64, ldc int, d, x *float64)

//go:noescape
func kernelAVX512Trsm(k int, a, b, c *float64, ldc int, d, x *float64)

//go:noescape
func kernelAVX512x16(k int, a, b, c *float64, ldc int, alpha float64)

//go:noescape
func kernelAVX512x16Set(k int, a, b, c *float64, ldc int, alpha float64)

//go:noescape
func kernelAVX512x16Trsm(k int, a, b, c *float64, ldc int, d, x *float64)

//go:noescape
func kernelAVX2Set(k int, a, b, c *float64, ldc int, alpha float64)

//go:noescape
func kernelAVX512Set(k int, a, b, c *float64, ldc int, alpha float64)

// kernels lists the micro-kernels this build has, fastest first (for small
// products, smallKernel may take one listed after the one in use).
var kernels = []microKernel{
	{name: "avx512", mr: 8, nr: 24, kc: 256, mc: 96, run: kernelAVX512, set: kernelAVX512Set, trsm: kernelAVX512Trsm,
		has: cpu.X86.HasAVX512F},
	{name: "avx512x16", mr: 8, nr: 16, kc: 256, mc: 96, run: kernelAVX512x16, set: kernelAVX512x16Set, trsm: kernelAVX512x16Trsm,
		has: cpu.X86.HasAVX512F},
	{name: "avx2", mr: 6, nr: 8, kc: 256, mc: 96, run: kernelAVX2, set: kernelAVX2Set, trsm: kernelAVX2Trsm,
		has: cpu.X86.HasAVX2 && cpu.X86.HasFMA},
}

func init() {
	for i := range kernels {
		kernels[i].index = i
	}
}
