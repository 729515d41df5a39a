package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
)

// availabilityPairs are the pairs setPresence accepts; each setPresence
// sends one at random, so presence keeps changing.
var availabilityPairs = [][2]string{
	{"Available", "Available"}, {"Busy", "InACall"}, {"Busy", "InAConferenceCall"},
	{"Away", "Away"}, {"DoNotDisturb", "Presenting"},
}

// shapes are the requests of one phase, built once.
type shapes struct {
	getURL, setURL []string // per user
	manyURL        string
	manyBodies     [][]byte // ManyIDs ids from a few starting users
	ops            []Op     // weighted: one entry per unit of weight
	clientID       string
	sessions       int
}

func newShapes(cfg Config, base string) *shapes {
	s := &shapes{
		manyURL:  base + "/v1.0/communications/getPresencesByUserId",
		clientID: cfg.ClientID,
		sessions: cfg.SessionsPerUser,
	}
	for _, u := range cfg.Users {
		p := base + "/v1.0/users/" + url.PathEscape(u) + "/presence"
		s.getURL = append(s.getURL, p)
		s.setURL = append(s.setURL, p+"/setPresence")
	}
	if cfg.Mix.Many > 0 {
		for start := range min(len(cfg.Users), 16) {
			ids := make([]string, cfg.ManyIDs)
			for i := range ids {
				ids[i] = cfg.Users[(start+i)%len(cfg.Users)]
			}
			b, _ := json.Marshal(map[string][]string{"ids": ids})
			s.manyBodies = append(s.manyBodies, b)
		}
	}
	for _, op := range Ops {
		for range cfg.Mix.Weight(op) {
			s.ops = append(s.ops, op)
		}
	}
	return s
}

func (s *shapes) setBody(r *rand.Rand) []byte {
	return s.setBodyFor(r.IntN(s.sessions), r)
}

// setBodyFor is a setPresence of session k ("<ClientID>:s<k>") with a pair
// at random, as the run sends.
func (s *shapes) setBodyFor(k int, r *rand.Rand) []byte {
	p := availabilityPairs[r.IntN(len(availabilityPairs))]
	b := make([]byte, 0, 160)
	b = append(b, `{"sessionId":"`...)
	b = append(b, s.clientID...)
	b = append(b, ":s"...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `","availability":"`...)
	b = append(b, p[0]...)
	b = append(b, `","activity":"`...)
	b = append(b, p[1]...)
	b = append(b, `","expirationDuration":"PT1H"}`...)
	return b
}

// request builds one request of op, and says which user (the index in
// Config.Users) it is about: -1 for getPresencesByUserId's many.
func (s *shapes) request(ctx context.Context, op Op, r *rand.Rand, authz string) (req *http.Request, user int) {
	user = -1
	switch op {
	case OpGet:
		user = r.IntN(len(s.getURL))
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.getURL[user], nil)
	case OpSet:
		user = r.IntN(len(s.setURL))
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.setURL[user], bytes.NewReader(s.setBody(r)))
		req.Header.Set("Content-Type", "application/json")
	case OpMany:
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.manyURL, bytes.NewReader(s.manyBodies[r.IntN(len(s.manyBodies))]))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", authz)
	return req, user
}

// warmRequest is the warm-up's request j: the run's setPresence of user
// j.user's session j.k (a pair at random), or its GET of user j.user.
func (s *shapes) warmRequest(ctx context.Context, j warmJob, r *rand.Rand, authz string) *http.Request {
	var req *http.Request
	if j.op == OpSet {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.setURL[j.user], bytes.NewReader(s.setBodyFor(j.k, r)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.getURL[j.user], nil)
	}
	req.Header.Set("Authorization", authz)
	return req
}
