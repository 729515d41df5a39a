package directory

// maybeFold starts folding the delta into a new base once it holds
// foldAt users. Called with d.mu held.
func (d *Directory) maybeFold() {
	at := d.foldAt
	if at <= 0 {
		at = foldDelta
	}
	s := d.cur.Load()
	if d.folding || s.users.delta.len() < at {
		return
	}
	// The delta becomes frozen; changes from now on go to a new delta.
	ns := s.clone()
	frozen := s.users.delta
	ns.users = &layers{base: s.users.base, spans: s.users.spans, frozen: frozen, delta: &delta{}}
	d.cur.Store(ns)
	d.folding = true
	if d.foldInline {
		d.finishFold(ns, frozen, fold(ns))
		return
	}
	d.folds.Add(1)
	go func() {
		defer d.folds.Done()
		built := fold(ns)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.finishFold(ns, frozen, built)
	}()
}

// finishFold installs a folded base, unless the directory was replaced
// meanwhile (an import): the state it was folded from is gone then.
func (d *Directory) finishFold(from *state, frozen *delta, built *layers) {
	d.folding = false
	s := d.cur.Load()
	if s.users.frozen != frozen {
		return
	}
	ns := s.clone()
	ns.users = &layers{base: built.base, spans: built.spans, delta: s.users.delta}
	d.cur.Store(ns)
	d.maybeFold()
}

// WaitFolds waits until no fold runs (tests and benchmarks).
func (d *Directory) WaitFolds() { d.folds.Wait() }

// fold builds a base of the state's base and frozen layers: every user of a
// live tenant, in (tenant, page, id) order. Readers keep using the old
// base meanwhile; nothing here changes s.
func fold(s *state) *layers {
	view := *s
	view.users = &layers{base: s.users.base, spans: s.users.spans, frozen: s.users.frozen, delta: &delta{}}
	n, arena := 0, 0
	for t := range view.tenants {
		view.scan(uint32(t), "", func(u User) bool {
			n++
			arena += arenaBytes(&u)
			return true
		})
	}
	tb := newTableBuilder(n, arena)
	for t := range view.tenants {
		view.scan(uint32(t), "", func(u User) bool {
			tb.add(&u, uint32(t))
			return true
		})
	}
	table := tb.finish()
	for i := range table.recs {
		table.index(i) // unique: they were in the directory together
	}
	return &layers{base: table, spans: spansOf(table, len(view.tenants))}
}
