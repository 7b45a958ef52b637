package main

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// lstm: a character LSTM over five steps, vocabulary 5, 3 hidden units.
// Each step embeds its token by G.Slice of the embedding's row, computes one
// pre-activation a = Wx e + Wh h + b of the four gates and slices the gates
// out of it; the weights are tied over the steps.
func lstm(b *builder) (*model, error) {
	const vocab, hid, steps = 5, 3, 5
	tokens := []int{1, 3, 0, 4, 2, 1}
	emb := b.weight("embedding", vocab, hid)
	wx, wh := b.weight("Wx", 4*hid, hid), b.weight("Wh", 4*hid, hid)
	bias := b.bias("bGates", 4*hid)
	wy, by := b.weight("Wy", vocab, hid), b.bias("bOut", vocab)
	h := b.input("h0", make([]float64, hid), hid)
	c := b.input("c0", make([]float64, hid), hid)
	var total *G.Node
	for t := range steps {
		e, err := G.Slice(emb, G.S(tokens[t]))
		if err != nil {
			return nil, err
		}
		a, err := affine2(wx, e, wh, h, bias)
		if err != nil {
			return nil, err
		}
		gate := func(k int, act func(*G.Node) (*G.Node, error)) (*G.Node, error) {
			s, err := G.Slice(a, G.S(k*hid, (k+1)*hid))
			if err != nil {
				return nil, err
			}
			return act(s)
		}
		in, err := gate(0, G.Sigmoid)
		if err != nil {
			return nil, err
		}
		forget, err := gate(1, G.Sigmoid)
		if err != nil {
			return nil, err
		}
		out, err := gate(2, G.Sigmoid)
		if err != nil {
			return nil, err
		}
		cand, err := gate(3, G.Tanh)
		if err != nil {
			return nil, err
		}
		fc, err := G.HadamardProd(forget, c)
		if err != nil {
			return nil, err
		}
		ic, err := G.HadamardProd(in, cand)
		if err != nil {
			return nil, err
		}
		if c, err = G.Add(fc, ic); err != nil {
			return nil, err
		}
		tc, err := G.Tanh(c)
		if err != nil {
			return nil, err
		}
		if h, err = G.HadamardProd(out, tc); err != nil {
			return nil, err
		}
		logits, err := G.Mul(wy, h)
		if err != nil {
			return nil, err
		}
		if logits, err = G.Add(logits, by); err != nil {
			return nil, err
		}
		p, err := G.SoftMax(logits)
		if err != nil {
			return nil, err
		}
		lp, err := G.Log(p)
		if err != nil {
			return nil, err
		}
		y := b.input(fmt.Sprintf("next%d", t), oneHot(1, vocab, func(int) int { return tokens[t+1] }), vocab)
		ly, err := G.HadamardProd(y, lp)
		if err != nil {
			return nil, err
		}
		l, err := G.Sum(ly)
		if err != nil {
			return nil, err
		}
		if total == nil {
			total = l
		} else if total, err = G.Add(total, l); err != nil {
			return nil, err
		}
	}
	mean, err := G.Mul(b.scalar(-1.0/steps), total)
	if err != nil {
		return nil, err
	}
	b.m.cost = mean
	return b.m, nil
}

// affine2 is A x + B y + c.
func affine2(a, x, bm, y, c *G.Node) (*G.Node, error) {
	ax, err := G.Mul(a, x)
	if err != nil {
		return nil, err
	}
	by, err := G.Mul(bm, y)
	if err != nil {
		return nil, err
	}
	s, err := G.Add(ax, by)
	if err != nil {
		return nil, err
	}
	return G.Add(s, c)
}
