package scim

import (
	"net/http"
	"strings"

	"github.com/presenced/presenced/directory"
)

// The discovery endpoints (RFC 7644 §4): what this service supports.

func (h *Handler) serviceProviderConfig(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/presenced/presenced/blob/main/docs/identity.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": false},
		"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
			"description": "A SCIM token of the tenant (presenced admin scim token add)", "primary": true}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.o.BaseURL + Prefix + "/ServiceProviderConfig"},
	})
}

// resourceTypes serves /ResourceTypes, the list.
func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, listOf(h.userResourceType()))
}

// resourceType serves /ResourceTypes/{id}, where the list's meta.location
// points (RFC 7644 §4).
func (h *Handler) resourceType(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	if id := r.PathValue("id"); !strings.EqualFold(id, "User") {
		writeError(w, errf(http.StatusNotFound, "", "No ResourceType '%s': presenced serves the ResourceType 'User' only.", clip(id)))
		return
	}
	writeJSON(w, http.StatusOK, h.userResourceType())
}

// schemas serves /Schemas, the list.
func (h *Handler) schemas(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, listOf(h.userSchema()))
}

// schema serves /Schemas/{uri}, where the list's meta.location points
// (RFC 7644 §4).
func (h *Handler) schema(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	if id := r.PathValue("id"); !strings.EqualFold(id, schemaUser) {
		writeError(w, errf(http.StatusNotFound, "", "No schema '%s': presenced serves the schema %s only.", clip(id), schemaUser))
		return
	}
	writeJSON(w, http.StatusOK, h.userSchema())
}

func listOf(resource map[string]any) map[string]any {
	return map[string]any{"schemas": []string{schemaListResponse}, "totalResults": 1, "startIndex": 1, "itemsPerPage": 1, "Resources": []any{resource}}
}

func (h *Handler) userResourceType() map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": "User", "name": "User",
		"endpoint": "/Users", "schema": schemaUser, "meta": map[string]any{"resourceType": "ResourceType", "location": h.o.BaseURL + Prefix + "/ResourceTypes/User"}}
}

func (h *Handler) userSchema() map[string]any {
	attr := func(name, typ string, required, caseExact bool, mutability, uniqueness string) map[string]any {
		return map[string]any{"name": name, "type": typ, "multiValued": false, "required": required, "caseExact": caseExact,
			"mutability": mutability, "returned": "default", "uniqueness": uniqueness}
	}
	name := attr("name", "complex", false, false, "readWrite", "none")
	name["subAttributes"] = []any{attr("givenName", "string", false, false, "readWrite", "none"), attr("familyName", "string", false, false, "readWrite", "none"),
		attr("formatted", "string", false, false, "readOnly", "none")}
	emails := attr("emails", "complex", false, false, "readWrite", "none")
	emails["multiValued"] = true
	emails["subAttributes"] = []any{attr("value", "string", false, false, "readWrite", "none"), attr("type", "string", false, false, "readWrite", "none"),
		attr("primary", "boolean", false, false, "readWrite", "none")}
	password := attr("password", "string", false, false, "writeOnly", "none")
	password["returned"] = "never"
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": schemaUser, "name": "User",
		"description": "A presenced user: userName is the userPrincipalName, emails the mail, active accountEnabled.",
		"attributes": []any{attr("userName", "string", true, false, "readWrite", "server"), attr("displayName", "string", false, false, "readWrite", "none"),
			attr("externalId", "string", false, true, "readWrite", "none"), attr("active", "boolean", false, false, "readWrite", "none"), name, emails, password},
		"meta": map[string]any{"resourceType": "Schema", "location": h.o.BaseURL + Prefix + "/Schemas/" + schemaUser}}
}
