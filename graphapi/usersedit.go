package graphapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"context"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// Users is the directory's writable side: what dirstore.Store does.
type Users interface {
	CreateUser(ctx context.Context, e directory.UserEntry) (directory.UserEntry, error)
	UpdateUser(ctx context.Context, tenant, idOrUPN string, change func(*directory.UserEntry) error) (directory.UserEntry, error)
	DeleteUser(ctx context.Context, tenant, idOrUPN string) error
}

// Graph's user administration, for the properties presenced keeps: id,
// userPrincipalName, displayName, mail, accountEnabled (and a password,
// written only). Users are their tenant's: another tenant's user is
// unknown here, as in Graph (presence reads across trusted tenants; the
// directory does not).

// getUser serves GET /users/{id|upn} and GET /me.
func (a *API) getUser(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.principal(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		sel, err := userSelectOnly(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		u, err := a.tenantUser(r, kind, p)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := auth.Authorize(p, auth.ReadUser, u.ID, kind == subjectMe); err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, userEntity(a.serviceRoot(r, usersContext(sel)+"/$entity"), u, sel))
	}
}

// userEntity is one user as Graph shows it, with its @odata.context.
func userEntity(context string, u directory.User, sel []string) map[string]any {
	m := userRow(u, sel)
	m["@odata.context"] = context
	return m
}

// userSelectOnly reads the query of a single user: $select alone.
func userSelectOnly(r *http.Request) ([]string, error) {
	var sel []string
	for k, v := range r.URL.Query() {
		switch {
		case k == "$select" && len(v) == 1:
			var err error
			if sel, err = parseUserSelect(v[0]); err != nil {
				return nil, err
			}
		case k == "$select":
			return nil, presence.Errorf(presence.Invalid, k, "Query option '$select' was specified more than once; it must be specified at most once.")
		case strings.HasPrefix(k, "$"):
			return nil, presence.Errorf(presence.Invalid, k, "Query option '%s' is not supported on a user by presenced; use $select.", clip(k))
		}
	}
	return sel, nil
}

// tenantUser is the user a request names (/me: the signed-in user), in
// the caller's tenant.
func (a *API) tenantUser(r *http.Request, kind subjectKind, p auth.Principal) (directory.User, error) {
	if kind == subjectMe {
		if !p.Delegated {
			return directory.User{}, presence.Errorf(presence.Invalid, "",
				"/me request is only valid with delegated authentication flow: a signed-in user is required, and this token is an application token. Use /users/{id} instead.")
		}
		return a.tenantUserByID(p, p.UserID)
	}
	id := r.PathValue("id")
	if err := checkUserID("id", id); err != nil {
		return directory.User{}, err
	}
	return a.tenantUserByID(p, id)
}

func (a *API) tenantUserByID(p auth.Principal, id string) (directory.User, error) {
	u, ok := a.dir.UserInTenant(p.TenantID, id)
	if !ok {
		return directory.User{}, presence.Errorf(presence.NotFound, "id", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", clip(id))
	}
	return u, nil
}

// mayWriteUsers checks that p may create, change and delete users: the
// permission, and for a signed-in user Graph's User Administrator role.
func (a *API) mayWriteUsers(p auth.Principal, subject string) error {
	if err := auth.Authorize(p, auth.WriteUsers, subject, false); err != nil {
		return err
	}
	if p.Delegated {
		if u, ok := a.dir.UserInTenant(p.TenantID, p.UserID); !ok || !u.UserAdministrator {
			return presence.Errorf(presence.Forbidden, "", "Insufficient privileges to complete the operation: the signed-in user is not a User Administrator of the tenant.")
		}
	}
	return nil
}

// userBody is what POST /users and PATCH /users/{id} take.
type userBody struct {
	upn, name, mail optString
	enabled         *bool
	password        optString
}

// userWritable are the properties a request may set; notKept are Graph's
// other user properties, refused by name rather than dropped.
var (
	userWritable = []string{"userPrincipalName", "displayName", "mail", "accountEnabled", "passwordProfile", "mailNickname"}
	notKept      = []string{"givenName", "surname", "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage", "businessPhones", "department",
		"companyName", "usageLocation", "employeeId", "employeeType", "city", "country", "state", "streetAddress", "postalCode", "otherMails",
		"proxyAddresses", "ageGroup", "birthday", "onPremisesImmutableId", "identities", "passwordPolicies", "userType", "faxNumber", "mySite",
		"aboutMe", "interests", "responsibilities", "schools", "skills", "pastProjects", "preferredName", "employeeHireDate", "manager"}
)

// decodeUser reads a user body strictly: unknown properties, read-only
// ones (id), and Graph's properties presenced does not keep are each
// refused by name.
func decodeUser(raw []byte, what string) (userBody, error) {
	var b userBody
	if raw == nil {
		return b, errBody(http.StatusBadRequest, "invalidRequest", fmt.Sprintf("The request body of %s is empty; expected a JSON object with %s.", what, strings.Join(userWritable, ", ")))
	}
	obj, err := strictObject(raw, "")
	if err != nil {
		return b, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		if strings.Contains(k, "@") {
			continue
		}
		null := string(v) == "null"
		bad := func(kind string) error {
			return presence.Errorf(presence.Invalid, k, "Property '%s' must be %s.", k, kind)
		}
		str := func(dst *optString) error {
			if null {
				dst.given = true
				return nil
			}
			if json.Unmarshal(v, &dst.v) != nil {
				return bad("a string")
			}
			dst.given = true
			return nil
		}
		switch k {
		case "userPrincipalName":
			err = str(&b.upn)
		case "displayName":
			err = str(&b.name)
		case "mail":
			err = str(&b.mail)
		case "mailNickname": // Graph requires it on create; presenced keeps no alias
			var s string
			if !null && json.Unmarshal(v, &s) != nil {
				err = bad("a string")
			}
		case "accountEnabled":
			var on bool
			if null || json.Unmarshal(v, &on) != nil {
				err = bad("true or false")
			}
			b.enabled = &on
		case "passwordProfile":
			err = decodePasswordProfile(v, &b.password)
		case "id":
			err = presence.Errorf(presence.Invalid, k, "Property 'id' is read-only: the directory gives a new user its id.")
		default:
			if slices.Contains(notKept, k) {
				err = presence.Errorf(presence.Invalid, k, "Property '%s' of a user is not kept by presenced; it keeps %s.", clip(k), strings.Join(userWritable[:5], ", "))
			} else {
				msg := fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.user'; presenced takes %s.", clip(k), strings.Join(userWritable, ", "))
				if i := slices.IndexFunc(userWritable, func(w string) bool { return strings.EqualFold(w, k) }); i >= 0 {
					msg = fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.user'; did you mean '%s'? Property names are case-sensitive.", clip(k), userWritable[i])
				}
				err = presence.Errorf(presence.Invalid, k, "%s", msg)
			}
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// decodePasswordProfile reads {"password": "…", "forceChangePasswordNextSignIn": …}.
func decodePasswordProfile(v json.RawMessage, dst *optString) error {
	var pw string
	params := []param{{"password", &pw}, {"forceChangePasswordNextSignIn", new(bool)}, {"forceChangePasswordNextSignInWithMfa", new(bool)}}
	if err := decodeObject(v, "passwordProfile", "passwordProfile.", params); err != nil {
		return err
	}
	if pw == "" {
		return presence.Errorf(presence.Invalid, "passwordProfile.password", "passwordProfile.password is required and may not be empty.")
	}
	dst.v, dst.given = pw, true
	return nil
}

// apply sets what the body gives on e; a null clears mail.
func (b userBody) apply(e *directory.UserEntry) error {
	if b.upn.given {
		if b.upn.v == "" {
			return presence.Errorf(presence.Invalid, "userPrincipalName", "userPrincipalName may not be empty.")
		}
		e.UserPrincipalName = b.upn.v
	}
	if b.name.given {
		if strings.TrimSpace(b.name.v) == "" {
			return presence.Errorf(presence.Invalid, "displayName", "displayName may not be empty.")
		}
		e.DisplayName = b.name.v
	}
	if b.mail.given {
		e.Mail = b.mail.v
	}
	if b.enabled != nil {
		e.AccountEnabled = directory.Bool(*b.enabled)
	}
	if b.password.given {
		e.Password, e.PasswordHash = b.password.v, ""
	}
	return nil
}

// createUser serves POST /users: 201 with the user as Graph shows it.
func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.mayWriteUsers(p, ""); err != nil {
		a.writeError(w, r, err)
		return
	}
	raw, err := readBody(r, a.maxBody)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	b, err := decodeUser(raw, "creating a user")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	for _, req := range []struct {
		name  string
		given bool
	}{{"userPrincipalName", b.upn.given}, {"displayName", b.name.given}} {
		if !req.given {
			a.writeError(w, r, presence.Errorf(presence.Invalid, req.name, "Property '%s' is required when creating a user.", req.name))
			return
		}
	}
	e := directory.UserEntry{TenantID: p.TenantID}
	if err := b.apply(&e); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err = a.users.CreateUser(r.Context(), e)
	if err != nil {
		a.writeError(w, r, graphUserError(err))
		return
	}
	u := e.View()
	w.Header().Set("Location", a.serviceRoot(r, "/users/", u.ID))
	writeJSON(w, http.StatusCreated, userEntity(a.serviceRoot(r, "/$metadata#users/$entity"), u, nil))
}

// userToWrite is the caller and the user of the tenant {id} names, when
// the caller may change that user; otherwise it answers the error.
func (a *API) userToWrite(w http.ResponseWriter, r *http.Request) (auth.Principal, directory.User, bool) {
	p, err := a.principal(r)
	if err != nil {
		a.writeError(w, r, err)
		return p, directory.User{}, false
	}
	u, err := a.tenantUser(r, subjectUsers, p)
	if err == nil {
		err = a.mayWriteUsers(p, u.ID)
	}
	if err != nil {
		a.writeError(w, r, err)
		return p, u, false
	}
	return p, u, true
}

// updateUser serves PATCH /users/{id|upn}: 204.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	p, u, ok := a.userToWrite(w, r)
	if !ok {
		return
	}
	raw, err := readBody(r, a.maxBody)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	b, err := decodeUser(raw, "updating a user")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, err := a.users.UpdateUser(r.Context(), p.TenantID, u.ID, b.apply); err != nil {
		a.writeError(w, r, graphUserError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteUser serves DELETE /users/{id|upn}: 204 once the user is gone and
// what was theirs has ended.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	p, u, ok := a.userToWrite(w, r)
	if !ok {
		return
	}
	if p.Delegated && u.ID == p.UserID {
		a.writeError(w, r, presence.Errorf(presence.Invalid, "id", "A user cannot delete themselves; another User Administrator, or an application, can."))
		return
	}
	if err := a.users.DeleteUser(r.Context(), p.TenantID, u.ID); err != nil {
		a.writeError(w, r, graphUserError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// graphUserError answers a duplicate as Graph does, 400 with its words,
// where the directory says conflict.
func graphUserError(err error) error {
	var pe *presence.Error
	if errors.As(err, &pe) && pe.Code == presence.Conflict {
		return &presence.Error{Code: presence.Invalid, Field: pe.Field, Message: pe.Message}
	}
	return err
}
