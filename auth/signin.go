package auth

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/directory"
)

// passwordGrant signs a user in with its password (the resource owner
// password credentials grant), behind smart lockout: failures are counted
// per user and per source address, and a user locked for an address is
// refused there even with the right password (AADSTS50053).
func (i *Issuer) passwordGrant(r *http.Request, t directory.Tenant, app directory.App, form url.Values, scope string, withSecret bool) (*tokenResponse, *oauthError) {
	username, password := form.Get("username"), form.Get("password")
	if username == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'username'.")
	}
	if !form.Has("password") {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'password'.")
	}
	scopes, e := delegatedScopes(app, strings.Fields(scope))
	if e != nil {
		return nil, e
	}
	u, e := i.checkPassword(r, t, username, password)
	if e != nil {
		return nil, e
	}
	tok, err := i.mint(app, &u, scopes, withSecret)
	if err != nil {
		return nil, oerr(http.StatusInternalServerError, "server_error", 50000, "Issuing the token failed.")
	}
	return i.response(tok, scopeAnswer(scope, scopes)), nil
}

// checkPassword signs a user of tenant t in with a password, behind smart
// lockout: failures are counted per user and per source address, and a
// user locked for an address is refused there even with the right
// password (AADSTS50053). The password grant and the sign-in page both
// come through here.
func (i *Issuer) checkPassword(r *http.Request, t directory.Tenant, username, password string) (directory.User, *oauthError) {
	if username == "" {
		return directory.User{}, oerr(http.StatusBadRequest, "invalid_request", 900144, "Enter your user name (userPrincipalName).")
	}
	src := throttle.SourceOf(r.RemoteAddr)
	// A user named by object id or by userPrincipalName is one user to
	// the lockout; an unknown name is counted as written.
	u, known := i.dir.UserInTenant(t.ID, username)
	who := username
	if known {
		who = u.ID
	}
	if locked, _ := i.lockout.Locked(t.ID, who, src); locked {
		return directory.User{}, errLocked()
	}
	if !known {
		if i.passwords != nil {
			_, _, _ = i.passwords.Authenticate(r.Context(), t.ID, username, password) // the same time as a known user's
		}
		if locked := i.failed(t, who, src, password); locked {
			return directory.User{}, errLocked()
		}
		return directory.User{}, oerr(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account %s does not exist in the %s directory. To sign into this application, the account must be added to the directory.", clipString(username, 120), asked(r))
	}
	ok := false
	if i.passwords != nil {
		checked, match, err := i.passwords.Authenticate(r.Context(), t.ID, u.ID, password)
		if err != nil {
			return directory.User{}, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", 50000, "Checking the password failed; try again.")
		}
		if ok = match; ok {
			u = checked
		}
	}
	if !ok {
		if locked := i.failed(t, who, src, password); locked {
			return directory.User{}, errLocked()
		}
		if !u.HasPassword {
			return directory.User{}, oerr(http.StatusBadRequest, "invalid_grant", 50126,
				"Error validating credentials due to invalid username or password. User %s has no password in the directory, so cannot use the password grant.", u.UserPrincipalName)
		}
		return directory.User{}, oerr(http.StatusBadRequest, "invalid_grant", 50126,
			"Error validating credentials due to invalid username or password.")
	}
	if !u.AccountEnabled {
		return directory.User{}, errDisabled()
	}
	i.lockout.Succeeded(t.ID, who, src)
	return u, nil
}

// failed counts a failed sign-in and reports whether it locked the user;
// a lock is logged, for the operator to see an attack.
func (i *Issuer) failed(t directory.Tenant, who string, src throttle.Source, password string) bool {
	locked, until := i.lockout.Failed(t.ID, who, src, password)
	if locked {
		i.log.Warn("sign-in locked after repeated failed passwords", "tenant", t.ID, "user", clipString(who, 120), "source", src.String(), "until", until.UTC().Format(time.RFC3339))
	}
	return locked
}

// rateOK counts a request against its source address's token bucket; over
// it, secs is how long to wait (whole seconds, for Retry-After).
func (i *Issuer) rateOK(r *http.Request) (ok bool, secs int) {
	ok, wait := i.rate.Allow(throttle.SourceOf(r.RemoteAddr))
	return ok, int((wait + time.Second - 1) / time.Second)
}

// errDisabled is Entra's answer to a sign-in, or a refresh, of a disabled
// account (accountEnabled false).
func errDisabled() *oauthError {
	return oerr(http.StatusBadRequest, "invalid_grant", 50057,
		"The user account is disabled. The account has been disabled by an administrator.")
}

// errLocked is Entra's answer to a sign-in of a locked user. It does not
// say for how long: that would tell an attacker when to come back.
func errLocked() *oauthError {
	return oerr(http.StatusBadRequest, "invalid_grant", 50053,
		"Your account is locked because the user tried to sign in too many times with an incorrect user ID or password.")
}

// allow applies the token endpoint's rate limit to the request's source
// address; a request over it is refused with 429 and Retry-After.
func (i *Issuer) allow(w http.ResponseWriter, r *http.Request) *oauthError {
	ok, secs := i.rateOK(r)
	if ok {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return oerr(http.StatusTooManyRequests, "temporarily_unavailable", 90055,
		"Too many token requests from this address: the token endpoint takes %s per second from one address, with bursts of %d. Try again in %d seconds.",
		fmt.Sprint(i.rate.PerSecond()), i.rate.Burst(), secs)
}
