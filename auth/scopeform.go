package auth

import "strings"

// scopeAnswer is a token response's "scope": the granted Graph scopes
// (canonical names), each written in the form the request asked for it —
// with the resource prefix it was asked with ("https://graph.microsoft.com/
// Presence.ReadWrite" or the Graph app id's), or bare ("Presence.ReadWrite")
// — as Entra echoes them. A prefixed ".default" is answered with every
// granted scope prefixed, and itself. It matters to MSAL: its cache keeps a token under the
// response's scopes and finds it again only when they contain the scopes
// acquireTokenSilent asks for, compared as strings (case aside), so a bare
// answer to a prefixed request would send every silent call to the token
// endpoint. Without a scope in the request (a code redeemed without one),
// the names are bare.
func scopeAnswer(asked string, granted []string) string {
	prefix := map[string]string{} // lower-case name → the prefix it was asked with
	all := ""
	for _, s := range strings.Fields(asked) {
		name, graph, ok := graphPrefix(s)
		if !ok || !graph {
			continue
		}
		p := s[:len(s)-len(name)]
		if name == ".default" {
			all = p
			continue
		}
		prefix[strings.ToLower(name)] = p
	}
	out := make([]string, len(granted))
	for k, g := range granted {
		p, ok := prefix[strings.ToLower(g)]
		if !ok {
			p = all
		}
		out[k] = p + g
	}
	if all != "" {
		out = append(out, all+".default")
	}
	return strings.Join(out, " ")
}
