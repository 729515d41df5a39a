// Package web is the presence board: a small single-page app served by the
// binary itself at /, its assets embedded (plain HTML, CSS and JavaScript,
// no build step). It signs in like the single-page apps MSAL serves (the
// authorization-code flow with PKCE, as the application whose SPA
// redirect URIs hold the board's URL) and then makes only public API
// calls with the signed-in user's token: the board has no private back
// door. The handler's one dynamic part is which application and tenant
// to sign in with, written into the page.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/presenced/presenced/directory"
)

//go:embed assets
var assets embed.FS

// Options configure the board's handler.
type Options struct {
	// Directory says which applications may sign in to the board: those
	// with a SPA redirect URI that matches BaseURL + "/".
	Directory *directory.Directory
	// BaseURL is the server's public URL (no trailing slash).
	BaseURL string
	// Dev shows the dev clock and its buttons.
	Dev bool
}

// CSP is the board's Content-Security-Policy: its own scripts, styles and
// API calls only; no inline script, no framing, no plugins, no base or
// form targets elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

// Handler serves the board: GET / (the page) and GET /board/<asset>.
type Handler struct {
	o      Options
	assets map[string]asset
	page   *template.Template
}

// New builds the handler; the assets are read and compressed once.
func New(o Options) (*Handler, error) {
	h := &Handler{o: o, assets: map[string]asset{}}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		if name == "index.html" {
			h.page, err = template.New("index").Parse(string(b))
			return err
		}
		h.assets[name] = newAsset(name, b)
		return nil
	})
	return h, err
}

func newAsset(name string, b []byte) asset {
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	sum := sha256.Sum256(b)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return asset{body: b, gz: z.Bytes(), ctype: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

// signInApp is an application the board can sign in as.
type signInApp struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	ClientID   string `json:"clientId"`
}

type config struct {
	Apps []signInApp `json:"apps"`
	Dev  bool        `json:"dev"`
}

// config is what the page is told: who may sign in, and whether this is
// dev mode. It is read from the directory at each request, so that a
// reloaded directory applies at once.
func (h *Handler) config() config {
	c := config{Apps: []signInApp{}, Dev: h.o.Dev}
	for _, a := range h.o.Directory.Apps() {
		for _, u := range a.SPARedirectURIs {
			if _, ok := (directory.App{SPARedirectURIs: []string{u}}).RedirectURI(h.o.BaseURL + "/"); ok {
				t, _ := h.o.Directory.Tenant(a.TenantID)
				c.Apps = append(c.Apps, signInApp{TenantID: t.ID, TenantName: t.Name, ClientID: a.ClientID})
				break
			}
		}
	}
	return c
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		cfg, _ := json.Marshal(h.config())
		var b bytes.Buffer
		if err := h.page.Execute(&b, struct{ Config string }{string(cfg)}); err != nil {
			http.Error(w, "rendering the board failed", http.StatusInternalServerError)
			return
		}
		hd.Set("Cache-Control", "no-store")
		h.write(w, r, newAsset("index.html", b.Bytes()))
		return
	}
	a, ok := h.assets[strings.TrimPrefix(r.URL.Path, "/board/")]
	if !ok || !strings.HasPrefix(r.URL.Path, "/board/") {
		http.NotFound(w, r)
		return
	}
	// Revalidated at each load (an upgraded server serves new assets at
	// once), answered 304 while unchanged.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.write(w, r, a)
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, a asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Add("Vary", "Accept-Encoding")
	body := a.body
	if acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
