package solver

// KFACWithoutFold leaves k's L2 penalties to the step length alone: the
// direction from the data term's factors, as before K-FAC folded them
// (the tests' comparison).
func KFACWithoutFold(k *KFAC) { k.noFold = true }
