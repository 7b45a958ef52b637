package solver

import "gonum.org/v1/gonum/mat"

// Amortised returns block l's moving averages and the damped factors'
// inverses KFAC's directions use now (tests of kfac_amortize.go).
func (k *KFAC) Amortised(l int) (a, dd *mat.SymDense, ia, id *mat.Dense) {
	return k.a[l], k.dd[l], k.ia[l], k.id[l]
}
