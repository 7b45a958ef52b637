package hvp

// userRoutes puts what block b's routes say (their reasons, the
// per-sample route's failure) in the user's terms for a translated graph
// (native.Model.Annotate: nodes of the translation named by the
// user's nodes they compute; issue 19 item 23). p.mu held. A reason is
// written only when it changes (Annotate leaves a rewritten one as it
// is), so that routes already shown to callers are only read.
func (p *Problem) userRoutes(b *block) {
	if !p.model.Translated() {
		return
	}
	b.psErr = p.model.UserError(b.psErr)
	for _, r := range []*route{b.main, b.ps} {
		if r == nil {
			continue
		}
		for i, s := range r.reasons {
			if a := p.model.Annotate(s); a != s {
				r.reasons[i] = a
			}
		}
	}
}
