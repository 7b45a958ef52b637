package spectral

import (
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// Operator is a linear map of R^n, applied to flat vectors in
// params.Vector's flat order: the Hessian, the Gauss–Newton matrix, a
// block, their shifted and damped forms, a block's exact inverse. Every
// estimator of this package takes one, so that one Lanczos serves them all.
//
// Apply sets dst = A x (both of length Size, not aliased). An Operator
// built by this package returns a typed error of package errs on bad
// input or a failed product and never panics.
type Operator interface {
	Size() int
	Symmetric() bool
	Apply(dst, x []float64) error
}

var errNilOperator = &errs.ArgumentError{What: "operator", Value: nil, Reason: "must not be nil"}

// Interface checks.
var (
	_ Operator = (*vectorOp)(nil)
	_ Operator = (*shifted)(nil)
)

// vectorOp applies a product of package hvp on params.Vectors of one layout.
type vectorOp struct {
	layout *params.Layout
	what   string
	apply  func(v *params.Vector) (*params.Vector, error)
}

func (o *vectorOp) Size() int       { return o.layout.Len() }
func (o *vectorOp) Symmetric() bool { return true }
func (o *vectorOp) String() string  { return o.what }

func (o *vectorOp) Apply(dst, x []float64) (err error) {
	defer errs.Recover("spectral: "+o.what, &err)
	if err := checkLen(o.what, o.Size(), dst, x); err != nil {
		return err
	}
	y, err := o.apply(params.FromFlat(o.layout, x))
	if err != nil {
		return err
	}
	copy(dst, y.Flat())
	return nil
}

func checkLen(what string, n int, dst, x []float64) error {
	if len(x) != n {
		return &errs.ShapeError{What: "vector applied to " + what, Got: []int{len(x)}, Want: []int{n}}
	}
	if len(dst) != n {
		return &errs.ShapeError{What: "destination of " + what, Got: []int{len(dst)}, Want: []int{n}}
	}
	return nil
}

// Hessian is the operator of the full Hessian H of p (Problem.Hv, exact).
func Hessian(p *hvp.Problem) Operator {
	return &vectorOp{layout: p.Layout(), what: "H", apply: p.Hv}
}

// GGN is the operator of p's generalised Gauss–Newton matrix
// (Problem.GGNv, exact): positive semi-definite where the loss is convex in
// the net's output.
func GGN(p *hvp.Problem) Operator {
	return &vectorOp{layout: p.Layout(), what: "GGN", apply: p.GGNv}
}

// BlockHessian is the operator of a block's diagonal Hessian block H_ll
// (Block.Hv, exact), on vectors of the block's layout.
func BlockHessian(b *hvp.Block) Operator {
	return &vectorOp{layout: b.Layout(), what: "H_ll of block " + b.Name(), apply: b.Hv}
}

// BlockDamped is the operator H_ll + λ·(h̃ᵀh̃ ⊗ I) of a block with a
// per-sample route: the damped operator that hvp.Options.Damping = λ
// inverts exactly, h̃ the layer's input (with a column of ones for a
// bias, Block.Gram). λ = 0 is BlockHessian. A λ that is negative or not
// finite is an *errs.ArgumentError; a block without a per-sample route
// returns Gram's error.
func BlockDamped(b *hvp.Block, lambda float64) (Operator, error) {
	if !(lambda >= 0) || math.IsInf(lambda, 1) {
		return nil, &errs.ArgumentError{What: "damping of block " + b.Name(), Value: lambda, Reason: "must be finite and ≥ 0"}
	}
	if lambda == 0 {
		return BlockHessian(b), nil
	}
	gram, err := b.Gram()
	if err != nil {
		return nil, err
	}
	k, _ := gram.Dims()
	n := b.Layout().Len() / k
	return &vectorOp{layout: b.Layout(), what: fmt.Sprintf("H_ll + %g·h̃ᵀh̃⊗I of block %s", lambda, b.Name()), apply: func(v *params.Vector) (*params.Vector, error) {
		hv, err := b.Hv(v)
		if err != nil {
			return nil, err
		}
		// The block's values are W̃ = [W; b] (k × n) row by row, so
		// (h̃ᵀh̃ ⊗ I) v is the k × n product (h̃ᵀh̃) V.
		var m mat.Dense
		m.Mul(gram, mat.NewDense(k, n, append([]float64(nil), v.Flat()...)))
		hv.AddScaled(lambda, params.FromFlat(hv.Layout(), m.RawMatrix().Data))
		return hv, nil
	}}, nil
}

// shifted is A + s·I.
type shifted struct {
	Operator
	s float64
}

func (o *shifted) Apply(dst, x []float64) error {
	if err := o.Operator.Apply(dst, x); err != nil {
		return err
	}
	for i, v := range x {
		dst[i] += o.s * v
	}
	return nil
}

// Shift is the operator A + s·I (Tikhonov damping of H or the GGN by s, or
// a spectral shift): its eigenvalues are A's plus s. It is not the damping
// of hvp.Options (BlockDamped), whose metric is h̃ᵀh̃ ⊗ I. A shift that is
// not finite is an *errs.ArgumentError.
func Shift(a Operator, s float64) (Operator, error) {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, &errs.ArgumentError{What: "shift", Value: s, Reason: "must be finite"}
	}
	return &shifted{Operator: a, s: s}, nil
}

// BlockInverse is the operator (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ of a block, λ =
// opt.Damping (nil opt: undamped, hvp's defaults), applied by the exact
// B-pass (Block.InvHv): each application is one certified inverse product.
//
// It exists only where the inverse is exact: a block whose conditions
// report is not hvp.KindExact (a pseudo-inverse, Newton-only or refused
// B-pass) is an *errs.ConditionError naming the block and the reason, and
// so is, when applied, any result that runs narrower than exact (a
// rank-deficient layer input found at run time) or fails its certificate.
// opt.BestEffort, which would let uncertified results through, is an
// *errs.ArgumentError.
func BlockInverse(b *hvp.Block, opt *hvp.Options) (Operator, error) {
	if opt != nil && opt.BestEffort {
		return nil, &errs.ArgumentError{What: "Options.BestEffort", Value: true, Reason: "an inverse operator takes certified exact products only"}
	}
	c := b.Conditions()
	if c.Err != nil {
		return nil, c.Err
	}
	if c.Kind != hvp.KindExact {
		return nil, &errs.ConditionError{Block: b.Index(), Weight: b.Name(), Reason: fmt.Sprintf("the block's B-pass is %s, not the exact H_ll⁻¹: %s", c.Kind, strings.Join(c.Reasons, "; "))}
	}
	what := "H_ll⁻¹ of block " + b.Name()
	if opt != nil && opt.Damping != 0 {
		what = fmt.Sprintf("(H_ll + %g·h̃ᵀh̃⊗I)⁻¹ of block %s", opt.Damping, b.Name())
	}
	return &vectorOp{layout: b.Layout(), what: what, apply: func(v *params.Vector) (*params.Vector, error) {
		res, err := b.InvHv(v, opt)
		if err != nil {
			return nil, err
		}
		if res.Kind != hvp.KindExact || !res.Certified {
			return nil, &errs.ConditionError{Block: b.Index(), Weight: b.Name(), Reason: "inverse product not exact: " + res.Label(), Value: res.Residual}
		}
		return res.U, nil
	}}, nil
}
