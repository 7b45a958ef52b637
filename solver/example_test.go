package solver_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
)

// One optimizer step through the registry: a small tanh net with squared
// error, the damped exact block-Newton method by name, its common record
// and its own detail.
func Example() {
	m, err := nets.Build(nets.Spec{Batch: 4, In: 4, Reduction: nets.ReductionMean,
		Layers: []nets.Layer{{Out: 5, Act: ops.TanhFunc{}}, {Out: 2, Act: ops.IdentityFunc{}}}})
	if err != nil {
		panic(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 2)), 0.5, 0); err != nil {
		panic(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		panic(err)
	}
	opt, err := solver.New("newton", p, &solver.DampedNewtonSettings{LMDamping: 1e-2})
	if err != nil {
		panic(err)
	}
	step, err := opt.Step() // the new weights are bound to the net's weight nodes
	if err != nil {
		panic(err)
	}
	d := step.Detail.(*solver.NewtonDetail)
	fmt.Printf("%s step %d: loss %.4f → %.4f, took %s, %d fallbacks\n",
		opt.Name(), step.Iter, step.LossBefore, step.LossAfter, d.Combined, len(step.Fallbacks))
	fmt.Printf("|Δw| %.3f, cost %d rows (gradient-equivalents, hvp.Stats.Rows)\n", step.Norm, step.Cost)
	for _, f := range step.Fallbacks { // none: batch 4 ≤ every fan-in, each block's B-pass is exact
		fmt.Println("fallback:", f)
	}
	// Output:
	// newton step 0: loss 0.7463 → 0.0011, took block 1, 0 fallbacks
	// |Δw| 8.653, cost 70 rows (gradient-equivalents, hvp.Stats.Rows)
}
