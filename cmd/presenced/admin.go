package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/admin"
)

const adminUsage = `Usage: presenced admin [--data DIR] COMMAND
(over the socket of the server running on DIR, or on DIR directly when none runs)

  tenant list | show T | remove T
  tenant add --name NAME --domain D [--domain D…] [--id GUID]
  tenant set T [--name NAME]
  domain add T DOMAIN | domain remove T DOMAIN
  policy show T
  policy set T [--allow-all] [--allow DOMAIN…] [--block DOMAIN…]     (replaces the policy)
  app list [--tenant T] | show CLIENTID | remove CLIENTID
  app add --tenant T --name NAME [--role R…] [--scope S…] [--public]
          [--redirect-uri URI…] [--spa-redirect-uri URI…] [--id GUID]   (prints the first secret once)
  app set CLIENTID [--name NAME] [--role R…] [--scope S…] [--public=B] [--redirect-uri URI…] [--spa-redirect-uri URI…]
  app secret add CLIENTID [--name NAME] [--expires 2027-12-31]        (prints the secret once)
  app secret remove CLIENTID SECRETID
  scim token add T [--name NAME]                                      (prints the token once)
  scim token remove T TOKENID
  issuer add T --issuer URL --audience AUD [--audience AUD…] [--jwks-uri URL]
          [--user-claim oid] [--user-match id|userPrincipalName] [--roles-claim roles] [--scopes-claim scp]
  issuer remove T URL
T is a tenant's id or one of its domains. Answers are JSON.
`

// list is a flag that may be given more than once.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// adminClient reaches the operator's API of the data directory: the
// running server's socket, or the directory opened here when no server
// runs (done closes it).
func adminClient(ctx context.Context, data string) (_ *admin.Client, done func(), _ error) {
	sock := filepath.Join(data, presenced.AdminSocket)
	if conn, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		conn.Close()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		return &admin.Client{HTTP: &http.Client{Transport: tr}, Base: "http://admin"}, func() {}, nil
	}
	if _, err := os.Stat(data); err != nil {
		// Not made here: a mistyped --data would otherwise get a directory
		// of its own that no server reads. Say how to go on.
		why := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			why = pe.Err
		}
		return nil, nil, fmt.Errorf("no data directory %s (%w): give the --data of the server (serve --dev keeps its data in presenced-data, where it was started);"+
			" for a new server, create the directory first (mkdir -p %s), then import its directory file, or start it with serve --directory FILE", data, why, data)
	}
	off, err := presenced.OpenDirectory(ctx, presenced.Config{DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, fmt.Errorf("no server answers on %s, and the data directory cannot be opened here: %w", sock, err)
	}
	return &admin.Client{HTTP: &http.Client{Transport: inProcess{off.Handler()}}, Base: "http://admin"}, off.Close, nil
}

// inProcess serves requests with a handler in this process.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// dataFlag is the --data flag every directory and admin command takes.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "presenced-data", "data `directory` of the server")
}

func adminCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	data := dataFlag(fs)
	if err := fromEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("admin needs a command")
	}
	ctx := context.Background()
	c, done, err := adminClient(ctx, *data)
	if err != nil {
		return err
	}
	defer done()
	var out []byte
	call := func(method, path string, body any) error { return c.Do(ctx, method, path, body, &out) }
	noun, verb, args := rest[0], rest[1], rest[2:]
	if noun == "app" && verb == "secret" || noun == "scim" && verb == "token" {
		if len(args) < 1 {
			return fmt.Errorf("admin %s %s needs add or remove", noun, verb)
		}
		verb, args = verb+" "+args[0], args[1:]
	}
	err = adminRun(noun, verb, args, call, stderr)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		_, _ = stdout.Write(out)
	}
	return nil
}

// need checks a command's positional arguments.
func need(args []string, n int, usage string) error {
	if len(args) != n {
		return fmt.Errorf("usage: presenced admin %s", usage)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// adminRun runs one command through call.
func adminRun(noun, verb string, args []string, call func(method, path string, body any) error, stderr io.Writer) error {
	fs := flag.NewFlagSet(noun+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var domains, roles, scopes, redirects, spas, allow, block, audiences list
	name := fs.String("name", "", "display `name`")
	id := fs.String("id", "", "the `GUID` to give it (default: a new one)")
	tenant := fs.String("tenant", "", "`tenant` id or domain")
	public := fs.Bool("public", false, "a public client (no secret)")
	allowAll := fs.Bool("allow-all", false, "admit every tenant not blocked")
	expires := fs.String("expires", "", "`date` (2027-12-31) after which the secret stops working")
	issuer := fs.String("issuer", "", "the issuer `URL` (the tokens' iss)")
	jwks := fs.String("jwks-uri", "", "the issuer's JWKS `URL` (default: by OpenID discovery)")
	userClaim := fs.String("user-claim", "", "the `claim` naming the user (default oid)")
	userMatch := fs.String("user-match", "", "what the claim is: id or userPrincipalName")
	rolesClaim := fs.String("roles-claim", "", "the `claim` of application permissions (default roles)")
	scopesClaim := fs.String("scopes-claim", "", "the `claim` of delegated scopes (default scp)")
	fs.Var(&domains, "domain", "a verified `domain` (again for more)")
	fs.Var(&roles, "role", "an application `permission` (again for more)")
	fs.Var(&scopes, "scope", "a delegated `scope` (again for more)")
	fs.Var(&redirects, "redirect-uri", "a web redirect `URI` (again for more)")
	fs.Var(&spas, "spa-redirect-uri", "a single-page app redirect `URI` (again for more)")
	fs.Var(&allow, "allow", "a `domain` whose tenant is admitted (again for more)")
	fs.Var(&block, "block", "a `domain` whose tenant is never admitted (again for more)")
	fs.Var(&audiences, "audience", "an accepted `aud` (again for more)")
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch noun + " " + verb {
	case "tenant list":
		return call("GET", "/tenants", nil)
	case "tenant show":
		if err := need(args, 1, "tenant show T"); err != nil {
			return err
		}
		return call("GET", "/tenants/"+esc(args[0]), nil)
	case "tenant add":
		// Said as the command's flags, not as the directory's fields
		// ("domains is empty").
		switch {
		case len(domains) == 0:
			return errors.New("tenant add needs --domain D: a verified domain of the new tenant (again for more; the first is its default domain)")
		case strings.TrimSpace(*name) == "":
			return errors.New("tenant add needs --name NAME: the tenant's display name")
		}
		return call("POST", "/tenants", map[string]any{"id": *id, "name": name, "domains": domains})
	case "tenant set":
		if err := need(args, 1, "tenant set T [--name NAME]"); err != nil {
			return err
		}
		body := map[string]any{}
		if given["name"] {
			body["name"] = *name
		}
		return call("PATCH", "/tenants/"+esc(args[0]), body)
	case "tenant remove":
		if err := need(args, 1, "tenant remove T"); err != nil {
			return err
		}
		return call("DELETE", "/tenants/"+esc(args[0]), nil)
	case "domain add":
		if err := need(args, 2, "domain add T DOMAIN"); err != nil {
			return err
		}
		return call("POST", "/tenants/"+esc(args[0])+"/domains", map[string]any{"domain": args[1]})
	case "domain remove":
		if err := need(args, 2, "domain remove T DOMAIN"); err != nil {
			return err
		}
		return call("DELETE", "/tenants/"+esc(args[0])+"/domains/"+esc(args[1]), nil)
	case "policy show":
		if err := need(args, 1, "policy show T"); err != nil {
			return err
		}
		return call("GET", "/tenants/"+esc(args[0]), nil)
	case "policy set":
		if err := need(args, 1, "policy set T [--allow-all] [--allow D…] [--block D…]"); err != nil {
			return err
		}
		return call("PUT", "/tenants/"+esc(args[0])+"/externalAccess", map[string]any{"allowAllExternal": *allowAll, "allowedDomains": allow, "blockedDomains": block})
	case "app list":
		q := ""
		if *tenant != "" {
			q = "?tenant=" + url.QueryEscape(*tenant)
		}
		return call("GET", "/applications"+q, nil)
	case "app show":
		if err := need(args, 1, "app show CLIENTID"); err != nil {
			return err
		}
		return call("GET", "/applications/"+esc(args[0]), nil)
	case "app add", "app set":
		body := map[string]any{}
		for flagName, field := range map[string]string{"role": "roles", "scope": "scopes", "redirect-uri": "redirectUris", "spa-redirect-uri": "spaRedirectUris"} {
			if given[flagName] || verb == "add" {
				body[field] = map[string]list{"role": roles, "scope": scopes, "redirect-uri": redirects, "spa-redirect-uri": spas}[flagName]
			}
		}
		if given["name"] || verb == "add" {
			body["name"] = *name
		}
		if given["public"] || verb == "add" {
			body["public"] = *public
		}
		if verb == "add" {
			body["tenantId"], body["clientId"] = *tenant, *id
			return call("POST", "/applications", body)
		}
		if err := need(args, 1, "app set CLIENTID [flags]"); err != nil {
			return err
		}
		return call("PATCH", "/applications/"+esc(args[0]), body)
	case "app remove":
		if err := need(args, 1, "app remove CLIENTID"); err != nil {
			return err
		}
		return call("DELETE", "/applications/"+esc(args[0]), nil)
	case "app secret add":
		if err := need(args, 1, "app secret add CLIENTID [--name NAME] [--expires DATE]"); err != nil {
			return err
		}
		body := map[string]any{"displayName": *name}
		if *expires != "" {
			t, err := time.Parse("2006-01-02", *expires)
			if err != nil {
				return fmt.Errorf("--expires %q is not a date such as 2027-12-31", *expires)
			}
			body["endDateTime"] = t
		}
		return call("POST", "/applications/"+esc(args[0])+"/secrets", body)
	case "app secret remove":
		if err := need(args, 2, "app secret remove CLIENTID SECRETID"); err != nil {
			return err
		}
		return call("DELETE", "/applications/"+esc(args[0])+"/secrets/"+esc(args[1]), nil)
	case "scim token add":
		if err := need(args, 1, "scim token add T [--name NAME]"); err != nil {
			return err
		}
		return call("POST", "/tenants/"+esc(args[0])+"/scimTokens", map[string]any{"displayName": *name})
	case "scim token remove":
		if err := need(args, 2, "scim token remove T TOKENID"); err != nil {
			return err
		}
		return call("DELETE", "/tenants/"+esc(args[0])+"/scimTokens/"+esc(args[1]), nil)
	case "issuer add":
		if err := need(args, 1, "issuer add T --issuer URL --audience AUD [flags]"); err != nil {
			return err
		}
		return call("POST", "/tenants/"+esc(args[0])+"/issuers", map[string]any{"issuer": *issuer, "jwksUri": *jwks, "audiences": audiences,
			"userClaim": *userClaim, "userMatch": *userMatch, "rolesClaim": *rolesClaim, "scopesClaim": *scopesClaim})
	case "issuer remove":
		if err := need(args, 2, "issuer remove T URL"); err != nil {
			return err
		}
		return call("DELETE", "/tenants/"+esc(args[0])+"/issuers?issuer="+url.QueryEscape(args[1]), nil)
	}
	return fmt.Errorf("unknown admin command %q (presenced admin -h)", noun+" "+verb)
}

// parseInterspersed parses flags wherever they are among the positional
// arguments (app secret add ID --name N), which flag.Parse stops at, and
// returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// directoryCmd imports or exports the whole directory.
func directoryCmd(args []string, stdout, stderr io.Writer) error {
	usage := "usage: presenced directory import [--data DIR] FILE | presenced directory export [--data DIR] [--out FILE]"
	if len(args) < 1 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("directory "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	outFile := fs.String("out", "", "write to this `file` (default: standard output)")
	if err := fromEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	switch {
	case args[0] == "import" && fs.NArg() == 1:
		file := fs.Arg(0)
		// Sent as it is read: neither this process nor the server holds
		// the whole file.
		body, err := os.Open(file)
		if err != nil {
			return err
		}
		defer body.Close()
		c, done, err := adminClient(ctx, *data)
		if err != nil {
			return err
		}
		defer done()
		var out []byte
		if err := c.Do(ctx, "PUT", "/directory?name="+url.QueryEscape(file), body, &out); err != nil {
			return fmt.Errorf("%s: %w (nothing was changed)", file, err)
		}
		_, _ = stdout.Write(out)
		return nil
	case args[0] == "export" && fs.NArg() == 0:
		c, done, err := adminClient(ctx, *data)
		if err != nil {
			return err
		}
		defer done()
		var out []byte
		if err := c.Do(ctx, "GET", "/directory", nil, &out); err != nil {
			return err
		}
		if *outFile == "" {
			_, err = stdout.Write(out)
			return err
		}
		return os.WriteFile(*outFile, out, 0o600)
	}
	return errors.New(usage)
}
