package presence

import "strings"

// MaxSessionLabel is the longest label accepted after "clientId:".
const MaxSessionLabel = 64

// ValidateSessionID enforces semantics.md §5: a sessionId is the calling
// application's client ID, or that client ID, ':' and a label of 1–64
// characters [A-Za-z0-9._-] (one app on several devices of one user). The
// client ID part is compared case-insensitively because client IDs are GUIDs.
func ValidateSessionID(sessionID, clientID string) error {
	rule := func() string {
		return "must be the calling application's client ID (" + clientID + ") or '" + clientID +
			":<label>' with a label of 1-64 characters [A-Za-z0-9._-]"
	}
	if sessionID == "" {
		return Errorf(Invalid, "sessionId", "sessionId is required; it %s", rule())
	}
	if clientID == "" {
		// A token without a client ID cannot own a session; nothing matches.
		return Errorf(Invalid, "sessionId", "sessionId '%s' cannot be checked: the token carries no client ID (appid/azp)", sessionID)
	}
	if len(sessionID) >= len(clientID) && strings.EqualFold(sessionID[:len(clientID)], clientID) {
		rest := sessionID[len(clientID):]
		if rest == "" {
			return nil
		}
		if rest[0] == ':' && validLabel(rest[1:]) {
			return nil
		}
	}
	return Errorf(Invalid, "sessionId", "sessionId '%s' %s", sessionID, rule())
}

func validLabel(l string) bool {
	if len(l) < 1 || len(l) > MaxSessionLabel {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
