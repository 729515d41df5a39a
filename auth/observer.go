package auth

// Observer is told of the token endpoint's answers (the server's metrics).
// Its methods must not block.
type Observer interface {
	// TokenIssued: a token was issued for grant ("client_credentials",
	// "password", "authorization_code", "refresh_token").
	TokenIssued(grant string)
	// TokenRejected: a token request was refused with the OAuth error and
	// its AADSTS code (constants of this package, so a bounded set).
	TokenRejected(oauthError string, code int)
}

type noObserver struct{}

func (noObserver) TokenIssued(string)        {}
func (noObserver) TokenRejected(string, int) {}
