package graphapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// OData query options, answered as Graph answers them (docs/api.md):
// a presence read (GET) takes $select (and $format=json); Graph supports
// system query options on GET operations only, so getPresencesByUserId
// and the actions take none. A system query option a request does not
// take is 400 "Query option … is not allowed"; one OData does not have is
// 400 "The query parameter … is not supported"; a parameter without '$'
// is a custom query option, which OData lets a service ignore — except on
// /beta, where Graph makes the '$' optional.

// field is one property of the presence resource, as $select names it.
type field uint8

const (
	fieldID field = 1 << iota
	fieldAvailability
	fieldActivity
	fieldStatusMessage
	fieldOutOfOffice
	fieldSequenceNumber
	fieldWorkLocation

	allFields = fieldID | fieldAvailability | fieldActivity | fieldStatusMessage | fieldOutOfOffice | fieldSequenceNumber | fieldWorkLocation
)

// presenceFields are the properties of microsoft.graph.presence in the
// order Graph writes them.
var presenceFields = []struct {
	name string
	f    field
}{
	{"id", fieldID}, {"availability", fieldAvailability}, {"activity", fieldActivity},
	{"statusMessage", fieldStatusMessage}, {"outOfOfficeSettings", fieldOutOfOffice},
	{"sequenceNumber", fieldSequenceNumber}, {"workLocation", fieldWorkLocation},
}

// systemOptions are OData's system query options, by their name without
// '$' in lower case, with the name Graph's errors give them.
var systemOptions = map[string]string{
	"select": "Select", "expand": "Expand", "filter": "Filter", "orderby": "OrderBy", "top": "Top",
	"skip": "Skip", "count": "Count", "search": "Search", "format": "Format", "skiptoken": "SkipToken",
	"deltatoken": "DeltaToken", "apply": "Apply", "compute": "Compute", "levels": "Levels", "index": "Index",
	"schemaversion": "SchemaVersion", "id": "Id",
}

// selection is what a presence read writes: the properties $select named
// (all without $select) and, for @odata.context, the list as it was named.
type selection struct {
	fields field
	list   string // "" without $select; "availability,activity" with
}

var everything = selection{fields: allFields}

// readOptions checks a presence read's query options and returns its
// selection.
func readOptions(r *http.Request) (selection, error) {
	if r.URL.RawQuery == "" {
		return everything, nil
	}
	sel := everything
	err := eachOption(r, func(name, value string) error {
		switch name {
		case "select":
			var err error
			sel, err = parseSelect(value)
			return err
		case "format":
			if v := strings.ToLower(strings.TrimSpace(value)); v == "json" || v == "application/json" {
				return nil
			}
			return errBody(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The query specified in the URI is not valid. $format '%s' is not supported; presence is served as json.", clip(value)))
		}
		return notAllowed(name, "a presence read takes $select only")
	})
	return sel, err
}

// noOptions checks that a POST takes no system query option: Graph
// supports them on GET operations only.
func noOptions(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	return eachOption(r, func(name, _ string) error {
		return notAllowed(name, "query options apply to GET requests only, and this is a "+r.Method)
	})
}

// eachOption calls f with each system query option of r's URL (its name
// in lower case, without '$'). An unknown '$' option is refused; other
// parameters are custom options and ignored, except that on /beta a known
// option may be written without '$'.
func eachOption(r *http.Request, f func(name, value string) error) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errBody(http.StatusBadRequest, "BadRequest", "The query specified in the URI is not valid: it is not a well-formed query string.")
	}
	beta := strings.HasPrefix(r.URL.Path, "/beta/")
	for key, values := range q {
		name, dollar := strings.CutPrefix(key, "$")
		lower := strings.ToLower(name)
		_, known := systemOptions[lower]
		switch {
		case dollar && !known:
			return errBody(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The query parameter '%s' is not supported.", clip(key)))
		case !dollar && !(beta && known):
			continue // a custom query option
		case len(values) > 1:
			return errBody(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The query specified in the URI is not valid. Query option '%s' was specified more than once, but it must be specified at most once.", systemOptions[lower]))
		}
		if err := f(lower, values[0]); err != nil {
			return err
		}
	}
	return nil
}

func notAllowed(name, why string) error {
	return errBody(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The query specified in the URI is not valid. Query option '%s' is not allowed: %s.", systemOptions[name], why))
}

// parseSelect reads $select: a comma-separated list of presence properties
// (names matched ignoring case, as Graph does) or '*'.
func parseSelect(v string) (selection, error) {
	var sel selection
	var names []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return sel, errBody(http.StatusBadRequest, "BadRequest", "The query specified in the URI is not valid. $select has an empty item: name presence properties separated by commas, e.g. $select=availability,activity.")
		}
		if item == "*" {
			sel.fields = allFields
			names = append(names, "*")
			continue
		}
		found := false
		for _, p := range presenceFields {
			if strings.EqualFold(p.name, item) {
				if sel.fields&p.f == 0 {
					names = append(names, p.name)
				}
				sel.fields |= p.f
				found = true
			}
		}
		if !found {
			return sel, errBody(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.presence'.", clip(item)))
		}
	}
	sel.list = strings.Join(names, ",")
	return sel, nil
}
