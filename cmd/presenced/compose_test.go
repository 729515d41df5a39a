package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced"
)

// The three-node compose file forms one cluster: each presenced service's
// variables are serve flags that parse (through the same fromEnv and
// clusterFlags as the command), every node has its own name and volume,
// the same cluster name, public URL and routes, and the routes name every
// node at the port its routes listen on. Docker is not run here (it is
// not on the test machines): the file is read, and its settings are given
// to the flags the binary has.
func TestClusterComposeFormsOneCluster(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy/compose-cluster.yml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseComposeYAML(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	services, _ := doc["services"].(map[string]any)
	type node struct {
		name   string
		cfg    presenced.Config
		env    map[string]string
		volume string
	}
	var nodes []node
	for name, s := range services {
		svc, _ := s.(map[string]any)
		if !strings.HasPrefix(name, "presenced-") {
			continue
		}
		env := map[string]string{}
		for k, v := range asMap(svc["environment"]) {
			env[k], _ = v.(string)
		}
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg presenced.Config
		fs.StringVar(&cfg.PublicURL, "public-url", "", "")
		fs.StringVar(&cfg.DirectoryFile, "directory", "", "")
		apply := clusterFlags(fs, &cfg)
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		if err := fromEnv(fs, lookup); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := apply(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var volume string
		for _, v := range asList(svc["volumes"]) {
			if s, _ := v.(string); strings.HasSuffix(s, ":/data") {
				volume = strings.TrimSuffix(s, ":/data")
			}
		}
		nodes = append(nodes, node{name: name, cfg: cfg, env: env, volume: volume})
	}
	if len(nodes) != 3 {
		t.Fatalf("%d presenced services, want 3", len(nodes))
	}
	slices.SortFunc(nodes, func(a, b node) int { return strings.Compare(a.name, b.name) })
	first := nodes[0].cfg
	var listens []string
	for _, n := range nodes {
		c := n.cfg.Cluster
		if c == nil {
			t.Fatalf("%s is not a cluster node", n.name)
		}
		if c.NodeName != n.name {
			t.Errorf("%s: node name %q, want the service's (its host name in the routes)", n.name, c.NodeName)
		}
		if c.ClusterName == "" || c.ClusterName != first.Cluster.ClusterName || !slices.Equal(c.Routes, first.Cluster.Routes) {
			t.Errorf("%s: cluster %q routes %v; %s has %q %v: every node needs the same", n.name, c.ClusterName, c.Routes,
				nodes[0].name, first.Cluster.ClusterName, first.Cluster.Routes)
		}
		if n.cfg.PublicURL == "" || n.cfg.PublicURL != first.PublicURL {
			t.Errorf("%s: public URL %q; every node needs the load balancer's, %q", n.name, n.cfg.PublicURL, first.PublicURL)
		}
		if n.cfg.DirectoryFile == "" {
			t.Errorf("%s: no directory file", n.name)
		}
		if n.volume == "" || !isNamedVolume(doc, n.volume) {
			t.Errorf("%s: /data is %q, not a named volume of its own", n.name, n.volume)
		}
		_, port, err := net.SplitHostPort(c.ClusterListen)
		if err != nil {
			t.Fatalf("%s: --cluster-listen %q: %v", n.name, c.ClusterListen, err)
		}
		listens = append(listens, "nats://"+net.JoinHostPort(n.name, port))
	}
	if !slices.Equal(slices.Sorted(slices.Values(first.Cluster.Routes)), listens) {
		t.Errorf("the routes are %v; the nodes' routes listen at %v", first.Cluster.Routes, listens)
	}
	for i := 1; i < len(nodes); i++ {
		if nodes[i].volume == nodes[i-1].volume {
			t.Errorf("%s and %s share the volume %s", nodes[i-1].name, nodes[i].name, nodes[i].volume)
		}
	}
	if u, err := url.Parse(first.PublicURL); err != nil || u.Port() != "8080" {
		t.Errorf("the public URL %q is not the load balancer's :8080", first.PublicURL)
	}
}

func isNamedVolume(doc map[string]any, name string) bool {
	_, ok := asMap(doc["volumes"])[name]
	return ok
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

// parseComposeYAML reads the subset of YAML the compose files are written
// in — nested maps by indentation, "- item" lists, flow lists of plain
// words ([a, b]), comments, quoted or plain scalars — and refuses anything
// else, so that a file the test cannot read fails it rather than passing
// unread. (No YAML module for one test: go.mod stays as it is.)
func parseComposeYAML(src string) (map[string]any, error) {
	// A frame is a map being read: the indentation of its keys, and the
	// last key read (what a more indented line belongs to).
	type frame struct {
		indent int
		m      map[string]any
		last   string
	}
	root := map[string]any{}
	stack := []*frame{{m: root}}
	for n, line := range strings.Split(src, "\n") {
		text := line
		if i := strings.Index(text, " #"); i >= 0 && !strings.ContainsAny(text[:i], `"'`) {
			text = text[:i]
		}
		if t := strings.TrimSpace(text); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		indent := len(text) - len(strings.TrimLeft(text, " "))
		text = strings.TrimSpace(text)
		for len(stack) > 1 && indent < stack[len(stack)-1].indent {
			stack = stack[:len(stack)-1]
		}
		top := stack[len(stack)-1]
		item, isItem := strings.CutPrefix(text, "- ")
		if indent > top.indent {
			if top.last == "" {
				return nil, fmt.Errorf("line %d: indented under nothing", n+1)
			}
			if isItem {
				l, ok := top.m[top.last].([]any)
				if !ok && top.m[top.last] != nil {
					return nil, fmt.Errorf("line %d: a list item under a map", n+1)
				}
				top.m[top.last] = append(l, scalar(item))
				continue
			}
			child, ok := top.m[top.last].(map[string]any)
			if !ok {
				if top.m[top.last] != nil {
					return nil, fmt.Errorf("line %d: a key under a list or a value", n+1)
				}
				child = map[string]any{}
				top.m[top.last] = child
			}
			top = &frame{indent: indent, m: child}
			stack = append(stack, top)
		} else if isItem {
			return nil, fmt.Errorf("line %d: a list item at its key's indentation", n+1)
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok || k == "" || strings.ContainsAny(k, `"'[{ `) {
			return nil, fmt.Errorf("line %d: %q is not a key: value", n+1, text)
		}
		if _, dup := top.m[k]; dup {
			return nil, fmt.Errorf("line %d: %s twice", n+1, k)
		}
		top.last = k
		switch v = strings.TrimSpace(v); {
		case v == "":
			top.m[k] = nil // a map or a list may follow, more indented
		case strings.HasPrefix(v, "["):
			if !strings.HasSuffix(v, "]") {
				return nil, fmt.Errorf("line %d: a flow list on several lines", n+1)
			}
			var l []any
			for _, w := range strings.Split(strings.Trim(v, "[]"), ",") {
				l = append(l, scalar(strings.TrimSpace(w)))
			}
			top.m[k] = l
		case strings.ContainsAny(v[:1], "{|>&*!"):
			return nil, fmt.Errorf("line %d: %q is outside the subset the test reads", n+1, v)
		default:
			top.m[k] = scalar(v)
		}
	}
	return root, nil
}

// scalar is a plain or quoted scalar's string.
func scalar(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
