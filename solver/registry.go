package solver

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
)

// Constructor is how the registry builds an optimizer.
type Constructor struct {
	// New builds an Optimizer on p's weights from its settings: a pointer
	// to the settings type its name documents, or nil for the defaults.
	// It validates them, returning the first invalid field as an
	// *errs.ArgumentError naming it.
	New func(p *hvp.Problem, settings any) (Optimizer, error)
	// Defaults returns the settings with every constant default filled in
	// (nil: Defaults returns nil).
	Defaults func() any
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Constructor{}
)

// Register adds an optimizer under name, for New. An empty name, one with
// a comma or a space, a Constructor without New, or a name already
// registered is an *errs.ArgumentError.
func Register(name string, c Constructor) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	switch _, ok := registry[name]; {
	case name == "" || strings.ContainsAny(name, ", \t\n"):
		return &errs.ArgumentError{What: "name", Value: name, Reason: "want a non-empty name without commas or spaces"}
	case c.New == nil:
		return &errs.ArgumentError{What: "Constructor.New", Value: name, Reason: "want a function"}
	case ok:
		return &errs.ArgumentError{What: "name", Value: name, Reason: "already registered"}
	}
	registry[name] = c
	return nil
}

// Names returns the registered names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func lookup(name string) (Constructor, error) {
	registryMu.RLock()
	e, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return Constructor{}, &errs.ArgumentError{What: "optimizer name", Value: name, Reason: "want one of " + strings.Join(Names(), ", ")}
	}
	return e, nil
}

// New builds the optimizer registered as name on p's weights. settings is
// nil (the defaults) or a pointer to the name's settings type:
//
//	newton                                  *DampedNewtonSettings
//	newton-subspace, newton-sum,            *BlockNewtonSettings (Combine: 0 or the name's)
//	  newton-cyclic
//	hf-ggn, hf-kron                         *HFSettings (Kronecker: false, or the name's)
//	kfac                                    *KFACSettings
//	sgd, adam                               *GorgoniaSettings
//	lbfgs, bfgs                             *GonumSettings
//
// An unknown name is an *errs.ArgumentError listing Names(); settings of
// another type, or a field outside its domain, an *errs.ArgumentError
// naming it.
func New(name string, p *hvp.Problem, settings any) (Optimizer, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, &errs.ArgumentError{What: "p", Value: nil, Reason: "want an *hvp.Problem"}
	}
	return e.New(p, settings)
}

// Defaults returns the settings of the optimizer registered as name with
// every constant default filled in (a pointer New accepts; defaults that
// depend on the step, such as DampedNewton's CG Tikhonov λ_l·‖g_l‖, stay
// 0), or an *errs.ArgumentError listing Names() for an unknown name.
func Defaults(name string) (any, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if e.Defaults == nil {
		return nil, nil
	}
	return e.Defaults(), nil
}

// settingsOf returns settings as a *T: nil gives a zero T.
func settingsOf[T any](name string, settings any) (*T, error) {
	switch s := settings.(type) {
	case nil:
		return new(T), nil
	case *T:
		if s == nil {
			return new(T), nil
		}
		c := *s
		return &c, nil
	}
	var zero T
	return nil, &errs.ArgumentError{What: "settings of " + name, Value: fmt.Sprintf("%T", settings),
		Reason: fmt.Sprintf("want *%s or nil", reflect.TypeOf(zero).String())}
}

func mustRegister(name string, build func(p *hvp.Problem, settings any) (Optimizer, error), defaults func() any) {
	if err := Register(name, Constructor{New: build, Defaults: defaults}); err != nil {
		panic(err) // the built-in names: a duplicate is a programming error caught by every test
	}
}

func init() {
	mustRegister("newton", func(p *hvp.Problem, settings any) (Optimizer, error) {
		s, err := settingsOf[DampedNewtonSettings]("newton", settings)
		if err != nil {
			return nil, err
		}
		return NewDampedNewton(p, s)
	}, func() any { s := DampedNewtonSettings{}.withDefaults(); return &s })
	for _, c := range []Combine{CombineSubspace, CombineSum, CombineCyclic} {
		name := "newton-" + c.String()
		mustRegister(name, func(p *hvp.Problem, settings any) (Optimizer, error) {
			s, err := settingsOf[BlockNewtonSettings](name, settings)
			if err != nil {
				return nil, err
			}
			if s.Combine != 0 && s.Combine != c {
				return nil, &errs.ArgumentError{What: "BlockNewtonSettings.Combine", Value: s.Combine, Reason: fmt.Sprintf("%s combines by %v: want 0 or %v", name, c, c)}
			}
			s.Combine = c
			return NewBlockNewton(p, s)
		}, func() any { s := BlockNewtonSettings{Combine: c}.withDefaults(); return &s })
	}
	for _, kron := range []bool{false, true} {
		name := map[bool]string{false: "hf-ggn", true: "hf-kron"}[kron]
		mustRegister(name, func(p *hvp.Problem, settings any) (Optimizer, error) {
			s, err := settingsOf[HFSettings](name, settings)
			if err != nil {
				return nil, err
			}
			if s.Kronecker && !kron {
				return nil, &errs.ArgumentError{What: "HFSettings.Kronecker", Value: true, Reason: "hf-ggn is unpreconditioned: use hf-kron"}
			}
			s.Kronecker = kron
			return NewHF(p, s)
		}, func() any { s, _ := HFSettings{Kronecker: kron}.withDefaults(); return &s })
	}
	mustRegister("kfac", func(p *hvp.Problem, settings any) (Optimizer, error) {
		s, err := settingsOf[KFACSettings]("kfac", settings)
		if err != nil {
			return nil, err
		}
		return NewKFAC(p, s)
	}, func() any { s := KFACSettings{}.withDefaults(); return &s })
	for _, name := range []string{"sgd", "adam"} {
		mustRegister(name, func(p *hvp.Problem, settings any) (Optimizer, error) {
			s, err := settingsOf[GorgoniaSettings](name, settings)
			if err != nil {
				return nil, err
			}
			return newGorgonia(name, p, *s)
		}, func() any { s := GorgoniaSettings{}.withDefaults(name); return &s })
	}
	for _, name := range []string{"lbfgs", "bfgs"} {
		mustRegister(name, func(p *hvp.Problem, settings any) (Optimizer, error) {
			s, err := settingsOf[GonumSettings](name, settings)
			if err != nil {
				return nil, err
			}
			return newGonum(name, p, *s)
		}, func() any { s := GonumSettings{}.withDefaults(name); return &s })
	}
}
