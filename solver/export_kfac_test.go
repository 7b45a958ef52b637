package solver

import "gonum.org/v1/gonum/mat"

// Amortised returns block l's moving averages and the damped factors'
// inverses KFAC's directions use now (tests of kfac_amortize.go).
func (k *KFAC) Amortised(l int) (a, dd *mat.SymDense, ia, id *mat.Dense) {
	return k.a[l], k.dd[l], k.ia[l], k.id[l]
}

// UsesRows reports whether block l's last direction was (Ã⁻¹h̃ᵀ)(δD̃⁻¹)
// from the step's rows (tests of kfac_amortize.go).
func (k *KFAC) UsesRows(l int) bool {
	f := k.rowsOf(l)
	return f != nil && rowsCheaper(f, k.a[l].SymmetricDim(), k.dd[l].SymmetricDim())
}
