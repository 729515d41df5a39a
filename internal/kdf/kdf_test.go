package kdf

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestHashVerifies(t *testing.T) {
	ctx := context.Background()
	h, err := Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry OWASP's parameters", h)
	}
	if ok, err := Verify(ctx, h, "correct horse"); !ok || err != nil {
		t.Errorf("the right secret: %v %v", ok, err)
	}
	if ok, err := Verify(ctx, h, "correct horsE"); ok || err != nil {
		t.Errorf("a wrong secret: %v %v", ok, err)
	}
	h2, _ := Hash(ctx, "correct horse")
	if h2 == h {
		t.Error("two hashes of one secret are equal: the salt is not random")
	}
}

// The hash is what RFC 9106's reference computes: golang.org/x/crypto's
// argon2.IDKey over the salt and parameters the string names.
func TestHashIsArgon2id(t *testing.T) {
	h, _ := Hash(context.Background(), "s3cret")
	p, err := Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	want := argon2.IDKey([]byte("s3cret"), p.salt, 2, 19456, 1, 32)
	if string(want) != string(p.key) {
		t.Error("the stored key is not argon2id of the secret")
	}
}

func TestMalformedHashesAreRefused(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB: refused, not run
		"$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := Verify(context.Background(), h, "x"); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v %v, want ErrMalformed", h, ok, err)
		}
	}
}

func TestVerifyNoneDoesTheWork(t *testing.T) {
	if err := VerifyNone(context.Background(), "anything"); err != nil {
		t.Fatal(err)
	}
	if err := Check(dummy); err != nil {
		t.Fatalf("the dummy hash is malformed: %v", err)
	}
}

// A verification waiting for a slot gives up when its request does.
func TestWaitingEndsWithContext(t *testing.T) {
	for range cap(slots) {
		slots <- struct{}{}
	}
	defer func() {
		for range cap(slots) {
			<-slots
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with every slot taken and its context ended: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(dummy)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to a string that parses the same.
		q, err := Parse(encode(p.salt, p.key, p.t, p.m, p.p))
		if err != nil || q.m != p.m || q.t != p.t || q.p != p.p || string(q.salt) != string(p.salt) || string(q.key) != string(p.key) {
			t.Fatalf("%q: re-encoded parse differs: %v", s, err)
		}
	})
}

// A secret that matched is remembered: the next check of it takes no
// argon2 (it succeeds with every slot taken), while a wrong one still
// waits for a slot and hashes.
func TestRecentSuccessesSkipTheHash(t *testing.T) {
	ctx := context.Background()
	h, _ := Hash(ctx, "remembered")
	if ok, err := Verify(ctx, h, "remembered"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	for range cap(slots) {
		slots <- struct{}{}
	}
	defer func() {
		for range cap(slots) {
			<-slots
		}
	}()
	done, cancel := context.WithCancel(ctx)
	cancel()
	if ok, err := Verify(done, h, "remembered"); !ok || err != nil {
		t.Errorf("a remembered secret with every slot taken: %v %v", ok, err)
	}
	if ok, err := Verify(done, h, "forgotten"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("a wrong secret with every slot taken: %v %v (it must wait to hash)", ok, err)
	}
}
