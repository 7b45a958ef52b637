package ops

import (
	"fmt"
	"math"
	"math/rand/v2"

	"testing"
)

// firstNonFiniteScalar is the definition: the first i with x[i] NaN or
// ±Inf, or −1.
func firstNonFiniteScalar(data []float64) int {
	for i, x := range data {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// FirstNonFinite against the scalar definition on every length 0–67 (the
// AVX-512 blocks of 32, the 8-wide Go loop and its tail all covered), with
// NaN, +Inf or −Inf at every position, a second bad value after it, and
// finite data holding denormals, −0, ±MaxFloat64 (whose x − x is 0, not a
// NaN). With AVX-512 the scalar Go path is checked too (hasScanAVX512
// off). Exact: an index, so equality.
func TestFirstNonFiniteMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 7))
	special := []float64{math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		math.Copysign(0, -1), 0x1p-1030, math.MaxFloat64, -math.MaxFloat64}
	bads := []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
	paths := []bool{false}
	if hasScanAVX512 {
		paths = append(paths, true)
	}
	defer func(h bool) { hasScanAVX512 = h }(hasScanAVX512)
	for _, vec := range paths {
		hasScanAVX512 = vec
		for n := 0; n <= 67; n++ {
			data := make([]float64, n)
			for i := range data {
				data[i] = rng.NormFloat64() * 1e300
				if i%3 == 0 {
					data[i] = special[rng.IntN(len(special))]
				}
			}
			if got, want := FirstNonFinite(data), firstNonFiniteScalar(data); got != want || want != -1 {
				t.Fatalf("avx512=%v n=%d finite: %d, definition %d", vec, n, got, want)
			}
			for pos := 0; pos < n; pos++ {
				for _, bad := range bads {
					saved := data[pos]
					data[pos] = bad
					later := -1
					if pos+5 < n {
						later = pos + 5
						data[later] = bads[(pos+1)%3]
					}
					if got, want := FirstNonFinite(data), firstNonFiniteScalar(data); got != want || want != pos {
						t.Fatalf("avx512=%v n=%d %v at %d: %d, definition %d", vec, n, bad, pos, got, want)
					}
					data[pos] = saved
					if later >= 0 {
						data[later] = 1
					}
				}
			}
		}
	}
}

// BenchmarkFirstNonFinite: the scan of an all-finite result (the common
// case) with the Go loop (avx512=false, the code before the AVX-512
// scan) and with AVX-512, at sizes of an n = 128 block column, a 128² block and an MNIST
// layer.
func BenchmarkFirstNonFinite(b *testing.B) {
	for _, n := range []int{128, 128 * 128, 784 * 128} {
		data := make([]float64, n)
		for i := range data {
			data[i] = float64(i) - 0.5
		}
		for _, vec := range []bool{false, true} {
			if vec && !hasScanAVX512 {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/avx512=%v", n, vec), func(b *testing.B) {
				defer func(h bool) { hasScanAVX512 = h }(hasScanAVX512)
				hasScanAVX512 = vec
				b.SetBytes(int64(8 * n))
				for range b.N {
					if FirstNonFinite(data) >= 0 {
						b.Fatal("finite data reported non-finite")
					}
				}
			})
		}
	}
}
