package nets_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gorgonia.org/tensor"
)

// Save then Load reproduces every value bit for bit, and Save refuses to
// replace files without force.
func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := nets.NewMLP(3, 4, []nets.Layer{{Out: 5, Act: ops.LeakyReLUFunc{Alpha: 0.25}}, {Out: 2, Act: ops.IdentityFunc{}}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	if err := m.Randomize(rng, 1, 0.5); err != nil {
		t.Fatal(err)
	}
	dirs := []*tensor.Dense{nets.Randn(rng, 4, 5, 0), nets.Randn(rng, 5, 2, 0)}
	dir := t.TempDir()
	path, err := nets.Save(dir, m, dirs, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := nets.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, a, b *tensor.Dense) {
		if !a.Shape().Eq(b.Shape()) {
			t.Fatalf("%s: shape %v, want %v", name, a.Shape(), b.Shape())
		}
		for i, x := range a.Float64s() {
			if x != b.Float64s()[i] {
				t.Fatalf("%s: element %d differs", name, i)
			}
		}
	}
	same("x", got.X.Value().(*tensor.Dense), m.X.Value().(*tensor.Dense))
	same("y", got.Y.Value().(*tensor.Dense), m.Y.Value().(*tensor.Dense))
	for k := range m.Weights {
		same(m.Weights[k].Name(), got.Weights[k].Value().(*tensor.Dense), m.Weights[k].Value().(*tensor.Dense))
		same("direction", got.Directions[k].Dense, dirs[k])
		if got.Acts[k] != m.Acts[k] {
			t.Errorf("layer %d: activation %v, want %v", k, got.Acts[k], m.Acts[k])
		}
	}
	if _, err := nets.Save(dir, m, dirs, false); err == nil {
		t.Error("Save replaced files without force")
	}
	if _, err := nets.Save(dir, m, dirs, true); err != nil {
		t.Errorf("Save with force: %v", err)
	}
	if _, err := nets.ReadNpy(filepath.Join(dir, "net.json")); err == nil {
		t.Error("a JSON file read as .npy")
	}
}
