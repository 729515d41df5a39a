package auth

import (
	"fmt"
	"testing"
)

// BenchmarkValidateCached is what a request with a token seen before pays
// for its check (Chain.Validate, the validated-token cache hit), from one
// goroutine and from as many as GOMAXPROCS at once: the parallel case is
// the server's, where a shared lock's cache line moves between cores.
//
//	go test -run '^$' -bench ValidateCached -benchmem -count 6 ./auth/
func BenchmarkValidateCached(b *testing.B) {
	f := newFixture(b)
	toks := make([]string, 8) // a few applications' tokens, as a server sees
	for i := range toks {
		toks[i] = f.appToken(b)
		if _, err := f.val.Validate(toks[i]); err != nil {
			b.Fatal(err)
		}
	}
	c := Chain{Builtin: f.val}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.Validate(toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := c.Validate(toks[i%len(toks)]); err != nil {
					panic(fmt.Sprint(err))
				}
				i++
			}
		})
	})
}
