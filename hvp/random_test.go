package hvp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// dropoutMLP is a 4-5-3 tanh net in Gorgonia's idiom with three random
// nodes: its input corrupted by a G.BinomialRandomNode mask (a denoising
// autoencoder's corruption), G.GaussianRandomNode noise added to the
// hidden pre-activation (of another shape: Gorgonia merges random nodes
// of one shape into one node), and G.Dropout on the hidden layer. With fixed, given, it is the same net
// with the random nodes replaced by inputs holding the values given (a
// dropout by G.HadamardProd with m/(1 − p)): the oracle of one draw.
type dropoutMLP struct {
	*gnet
	random []*G.Node // binomial, gaussian, dropout (nil when fixed)
}

const dropP = 0.4

func newDropoutMLP(t *testing.T, fixed []*tensor.Dense) *dropoutMLP {
	t.Helper()
	const B, in, hid, out = 6, 4, 5, 3
	rng := rand.New(rand.NewPCG(40, 4))
	g := G.NewGraph()
	x := named(g, rng, "x", B, in)
	y := named(g, rng, "y", B, out)
	w1, b1 := named(g, rng, "W1", in, hid), named(g, rng, "b1", hid)
	w2, b2 := named(g, rng, "W2", hid, out), named(g, rng, "b2", out)
	n := &dropoutMLP{gnet: &gnet{g: g, x: x, y: y, weights: []*G.Node{w1, b1, w2, b2}}}
	var corrupt, noise *G.Node
	if fixed == nil {
		corrupt = G.BinomialRandomNode(g, tensor.Float64, 1, 0.8, B, in)
		noise = G.GaussianRandomNode(g, tensor.Float64, 0, 0.1, B, hid)
	} else {
		corrupt = G.NewMatrix(g, tensor.Float64, G.WithShape(B, in), G.WithName("corruption"), G.WithValue(fixed[0]))
		noise = G.NewMatrix(g, tensor.Float64, G.WithShape(B, hid), G.WithName("noise"), G.WithValue(fixed[1]))
	}
	xc := G.Must(G.HadamardProd(x, corrupt))
	h := G.Must(G.Tanh(G.Must(G.Add(G.Must(G.BroadcastAdd(G.Must(G.Mul(xc, w1)), b1, nil, []byte{0})), noise))))
	var hd *G.Node
	if fixed == nil {
		hd = G.Must(G.Dropout(h, dropP))
		n.random = []*G.Node{corrupt, noise, hd}
	} else {
		m := fixed[2].Clone().(*tensor.Dense)
		for i, v := range m.Float64s() {
			m.Float64s()[i] = v / (1 - dropP)
		}
		mask := G.NewMatrix(g, tensor.Float64, G.WithShape(B, hid), G.WithName("mask"), G.WithValue(m))
		hd = G.Must(G.HadamardProd(h, mask))
	}
	o := G.Must(G.BroadcastAdd(G.Must(G.Mul(hd, w2)), b2, nil, []byte{0}))
	n.loss = G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(o, y))))))
	return n
}

// A dropout MLP: accepted, its three random nodes listed (and in the
// conditions report); two Hv calls of one draw agree bit for bit; a
// redraw changes Hv; and in a draw the loss, gradient and Hv are those of
// the same net with the draw held in input nodes, run by Gorgonia — loss
// and gradient against G.Grad to 1e-12 (the same sums in another order;
// the dropout scaling x/(1−p) against x·(1/(1−p)): 1 ulp), Hv against
// central differences of that G.Grad at r and r/2 (ratio ≈ 1/4: O(r²)).
func TestDropoutDraws(t *testing.T) {
	n := newDropoutMLP(t, nil)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Random(); len(got) != 3 || !slices.Contains(got, n.random[0]) || !slices.Contains(got, n.random[1]) || !slices.Contains(got, n.random[2]) {
		t.Fatalf("Random() = %v, want the binomial, gaussian and dropout nodes %v", got, n.random)
	}
	report := p.Conditions().String()
	for _, want := range []string{"G.BinomialRandomNode(1, 0.8)", "G.GaussianRandomNode(0, 0.1)", "G.Dropout(p = 0.4)"} {
		if !strings.Contains(report, want) {
			t.Errorf("the conditions report does not list %s:\n%s", want, report)
		}
	}
	t.Logf("conditions:\n%s", report)
	v := randomLike(rand.New(rand.NewPCG(6, 6)), p)
	hv1, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	hv2, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hv1.Flat(), hv2.Flat()) {
		t.Fatalf("two Hv calls in one draw differ by %.3g", flatRelDiff(hv1.Flat(), hv2.Flat()))
	}
	checkDraw(t, n, p, v, hv1)

	if err := p.Redraw(rand.New(rand.NewPCG(7, 7))); err != nil {
		t.Fatal(err)
	}
	hv3, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(hv3.Flat(), hv1.Flat()); !(d > 1e-3) {
		t.Fatalf("a redraw changed Hv by %.3g only", d)
	}
	checkDraw(t, n, p, v, hv3)
}

// checkDraw compares the loss, gradient and Hv of p at its current draw
// with those of the net holding that draw in inputs, run by Gorgonia.
func checkDraw(t *testing.T, n *dropoutMLP, p *hvp.Problem, v interface{ Flat() []float64 }, hv interface{ Flat() []float64 }) {
	t.Helper()
	var fixed []*tensor.Dense
	for _, r := range n.random {
		d, err := p.Draw(r)
		if err != nil {
			t.Fatal(err)
		}
		fixed = append(fixed, d)
	}
	for i, x := range fixed[2].Float64s() {
		if x != 0 && x != 1 {
			t.Fatalf("dropout mask entry %d is %g, want 0 or 1", i, x)
		}
	}
	o := newDropoutMLP(t, fixed)
	gg := newGorgoniaGrad(t, o.gnet)
	w0 := gg.weights(t)
	want := flatten(gg.at(t, w0))
	wantLoss := testnet.ScalarOf(o.loss.Value())
	loss, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(loss-wantLoss) / math.Abs(wantLoss); d > 1e-12 {
		t.Errorf("loss %v, the same draw in Gorgonia %v", loss, wantLoss)
	}
	if d := flatRelDiff(grads.Flat(), want); d > 1e-12 {
		t.Errorf("gradient differs from G.Grad's at the same draw by %.3g", d)
	}
	pv := randomLike(rand.New(rand.NewPCG(6, 6)), p) // v again, as a params.Vector
	copy(pv.Flat(), v.Flat())
	fd := func(r float64) float64 { return flatRelDiff(gg.central(t, w0, pv, r), hv.Flat()) }
	e1, e2 := fd(1e-3), fd(5e-4)
	t.Logf("‖Hv − FD(G.Grad at the same draw)‖/‖Hv‖: r = 1e-3: %.3g, r = 5e-4: %.3g (ratio %.3f)", e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad at the same draw: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
}

// A float32 graph with G.Dropout and a G.UniformRandomNode: accepted and
// verified against Gorgonia's own float32 run at Gorgonia's draw (the
// first product); the draws are float32 values (a uniform draw rounded
// to float32 is what the user's graph would hold); two Hv calls agree bit
// for bit.
func TestDropoutFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 4))
	g := G.NewGraph()
	f32 := func(shape ...int) *tensor.Dense {
		d := randDense(rng, shape...).Float64s()
		out := make([]float32, len(d))
		for i, x := range d {
			out[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out))
	}
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(5, 3), G.WithName("x"), G.WithValue(f32(5, 3)))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 4), G.WithName("W"), G.WithValue(f32(3, 4)))
	u := G.UniformRandomNode(g, tensor.Float32, 0.5, 1.5, 5, 4)
	h := G.Must(G.Dropout(G.Must(G.Tanh(G.Must(G.HadamardProd(G.Must(G.Mul(x, w)), u)))), 0.25))
	loss := G.Must(G.Mean(G.Must(G.Square(h))))
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); err != nil {
		t.Fatal(err)
	}
	d, err := p.Draw(u)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range d.Float64s() {
		if float64(float32(x)) != x || x < 0.5 || x >= 1.5 {
			t.Fatalf("uniform draw %d = %v: want a float32 value in [0.5, 1.5)", i, x)
		}
	}
	v := randomLike(rand.New(rand.NewPCG(1, 9)), p)
	a, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Flat(), b.Flat()) {
		t.Errorf("two Hv calls of one draw differ")
	}
	if _, err := p.Draw(x); err == nil {
		t.Errorf("Draw of the data x: no error")
	}
}

// denoisingAE is a batch-1 denoising autoencoder in the idiom of
// Gorgonia's stacked autoencoder example, with its weights tied: the
// input v corrupted by a G.BinomialRandomNode mask (given: an input
// holding it), h = sigmoid(G.Mul(ṽ, W) + bh) — a vector × matrix product,
// which Gorgonia builds as Aᵀ × b — and the reconstruction
// sigmoid(G.Mul(h, Wᵀ) + bv), its squared error the loss.
func denoisingAE(t *testing.T, mask *tensor.Dense) (n *gnet, corruption *G.Node) {
	t.Helper()
	const vis, hid = 6, 4
	rng := rand.New(rand.NewPCG(43, 4))
	g := G.NewGraph()
	v := named(g, rng, "v", vis)
	w, bh, bv := named(g, rng, "W", vis, hid), named(g, rng, "bh", hid), named(g, rng, "bv", vis)
	if mask == nil {
		corruption = G.BinomialRandomNode(g, tensor.Float64, 1, 0.7, vis)
	} else {
		corruption = G.NewVector(g, tensor.Float64, G.WithShape(vis), G.WithName("mask"), G.WithValue(mask))
	}
	h := G.Must(G.Sigmoid(G.Must(G.Add(G.Must(G.Mul(G.Must(G.HadamardProd(v, corruption)), w)), bh))))
	r := G.Must(G.Sigmoid(G.Must(G.Add(G.Must(G.Mul(h, G.Must(G.Transpose(w)))), bv))))
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(r, v))))))
	return &gnet{g: g, x: v, weights: []*G.Node{w, bh, bv}, loss: loss}, corruption
}

// The denoising autoencoder: accepted (Aᵀ × b without a transpose from the
// user, the corruption held at one draw, not folded); at that draw Hv
// agrees with central differences of G.Grad of the same autoencoder with
// the mask in an input (ratio ≈ 1/4 as r halves), the loss and gradient
// with Gorgonia's to 1e-12.
func TestDenoisingAutoencoderDraw(t *testing.T) {
	n, corruption := denoisingAE(t, nil)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Random(); len(got) != 1 || got[0] != corruption {
		t.Fatalf("Random() = %v, want the corruption %v", got, corruption)
	}
	mask, err := p.Draw(corruption)
	if err != nil {
		t.Fatal(err)
	}
	v := randomLike(rand.New(rand.NewPCG(8, 8)), p)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	loss, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	o, _ := denoisingAE(t, mask)
	gg := newGorgoniaGrad(t, o)
	w0 := gg.weights(t)
	want := flatten(gg.at(t, w0))
	if d := math.Abs(loss-testnet.ScalarOf(o.loss.Value())) / math.Abs(loss); d > 1e-12 {
		t.Errorf("loss %v, Gorgonia's at the same draw %v", loss, testnet.ScalarOf(o.loss.Value()))
	}
	if d := flatRelDiff(grads.Flat(), want); d > 1e-12 {
		t.Errorf("gradient differs from G.Grad's at the same draw by %.3g", d)
	}
	fd := func(r float64) float64 { return flatRelDiff(gg.central(t, w0, v, r), hv.Flat()) }
	e1, e2 := fd(1e-3), fd(5e-4)
	t.Logf("mask %v; ‖Hv − FD(G.Grad)‖/‖Hv‖: r = 1e-3: %.3g, r = 5e-4: %.3g (ratio %.3f)", mask.Float64s(), e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad at the same draw: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
}

// Products of one draw from several goroutines (the Problem is safe for
// concurrent use): every Hv equals the first bit for bit.
func TestDropoutConcurrent(t *testing.T) {
	n := newDropoutMLP(t, nil)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	v := randomLike(rand.New(rand.NewPCG(6, 7)), p)
	first, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			hv, err := p.Hv(v)
			if err == nil && !slices.Equal(hv.Flat(), first.Flat()) {
				err = fmt.Errorf("an Hv of the same draw differs by %.3g", flatRelDiff(hv.Flat(), first.Flat()))
			}
			errc <- err
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
