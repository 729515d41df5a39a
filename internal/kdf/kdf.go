// Package kdf hashes passwords and client secrets for storage, and checks a
// secret against its hash. Hashes are argon2id (RFC 9106) in the PHC string
// form "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", so that the
// parameters travel with each hash and can be raised later without
// invalidating stored ones.
//
// argon2id is memory-hard: each hash holds 19 MiB while it runs. At most
// GOMAXPROCS hashes run at once (Hash and Verify wait for a slot, or for
// their context to end), which bounds both the memory and the CPU a burst
// of sign-ins can take.
package kdf

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// The parameters of new hashes: OWASP's first recommendation for argon2id
// (19 MiB, 2 passes, 1 lane), ~50 ms on one core of a small server.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Bounds on the parameters a stored hash may ask for: a hash from a file
// must not make a sign-in take a gigabyte or a minute.
const (
	maxMemoryKiB = 256 * 1024
	maxPasses    = 16
	maxLanes     = 8
)

// slots bounds the hashes running at once.
var slots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))

var b64 = base64.RawStdEncoding

// ErrMalformed: the stored hash is not a PHC argon2id string this package
// can check.
var ErrMalformed = errors.New("kdf: malformed hash")

// Hash returns the argon2id hash of secret with a new random salt.
func Hash(ctx context.Context, secret string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("kdf: salt: %w", err)
	}
	key, err := run(ctx, []byte(secret), salt, passes, memoryKiB, lanes, keyLen)
	if err != nil {
		return "", err
	}
	return encode(salt, key, passes, memoryKiB, lanes), nil
}

func encode(salt, key []byte, t, m uint32, p uint8) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether secret matches the stored hash. A malformed hash
// is ErrMalformed (the secret does not match); a context that ends while
// waiting for a slot is its error.
//
// A secret that matched a hash recently matches it again without argon2:
// a daemon fetching a token every hour, or a load test fetching dozens,
// costs one hash, not one each time (~50 ms of a core). Only successes are
// remembered (a SHA-256 of the secret, in memory, beside the hash), so
// every wrong guess still pays the full cost; a changed password or secret
// has a new hash (a new salt) and is checked afresh.
func Verify(ctx context.Context, hash, secret string) (bool, error) {
	h, err := Parse(hash)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256([]byte(secret))
	if recent.matches(hash, sum) {
		return true, nil
	}
	key, err := run(ctx, []byte(secret), h.salt, h.t, h.m, h.p, uint32(len(h.key)))
	if err != nil {
		return false, err
	}
	ok := subtle.ConstantTimeCompare(key, h.key) == 1
	if ok {
		recent.remember(hash, sum)
	}
	return ok, nil
}

// recent remembers the secrets that matched their hashes lately.
var recent = &successes{m: map[string][32]byte{}}

// maxRecent bounds what recent holds (~2 MB); when full it starts over,
// which only costs hashing again.
const maxRecent = 16384

type successes struct {
	mu sync.Mutex
	m  map[string][32]byte // hash → SHA-256 of the secret that matched it
}

func (s *successes) matches(hash string, sum [32]byte) bool {
	s.mu.Lock()
	want, ok := s.m[hash]
	s.mu.Unlock()
	return ok && subtle.ConstantTimeCompare(want[:], sum[:]) == 1
}

func (s *successes) remember(hash string, sum [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxRecent {
		s.m = map[string][32]byte{}
	}
	s.m[hash] = sum
}

// dummy is a valid hash of nothing anyone knows, for VerifyNone.
var dummy = encode(make([]byte, saltLen), make([]byte, keyLen), passes, memoryKiB, lanes)

// VerifyNone does the work of a Verify and reports false: a sign-in of an
// unknown user, or of one without a password, takes as long as any other,
// so that its time does not tell which users exist.
func VerifyNone(ctx context.Context, secret string) error {
	_, err := Verify(ctx, dummy, secret)
	return err
}

// parsed is a decoded PHC argon2id string.
type parsed struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// Check reports whether hash is a stored hash Verify can check, with
// parameters within bounds: what a directory file's hashes are held to.
func Check(hash string) error {
	_, err := Parse(hash)
	return err
}

// Parse decodes "$argon2id$v=19$m=…,t=…,p=…$salt$key".
func Parse(hash string) (parsed, error) {
	var h parsed
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("%w: want $argon2id$v=19$m=…,t=…,p=…$salt$hash", ErrMalformed)
	}
	var m, t, p uint64
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("%w: parameter %q", ErrMalformed, kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return h, fmt.Errorf("%w: parameter %q", ErrMalformed, kv)
		}
	}
	switch {
	case m < 8*p || m > maxMemoryKiB:
		return h, fmt.Errorf("%w: memory m=%d KiB outside 8·p to %d", ErrMalformed, m, maxMemoryKiB)
	case t < 1 || t > maxPasses:
		return h, fmt.Errorf("%w: passes t=%d outside 1 to %d", ErrMalformed, t, maxPasses)
	case p < 1 || p > maxLanes:
		return h, fmt.Errorf("%w: lanes p=%d outside 1 to %d", ErrMalformed, p, maxLanes)
	}
	salt, err1 := b64.DecodeString(f[4])
	key, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return h, fmt.Errorf("%w: salt or hash is not 8–64 and 16–64 bytes of unpadded base64", ErrMalformed)
	}
	return parsed{m: uint32(m), t: uint32(t), p: uint8(p), salt: salt, key: key}, nil
}

// run computes argon2id in one of the slots.
func run(ctx context.Context, secret, salt []byte, t, m uint32, p uint8, n uint32) ([]byte, error) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-slots }()
	return argon2.IDKey(secret, salt, t, m, p, n), nil
}
