package graphapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/presenced/presenced/presence"
)

// strictObject decodes one JSON object into its members as encoding/json
// does, and refuses what encoding/json would read differently from what
// was sent. path is where the object sits in the body ("" for the body
// itself, "statusMessage." for a nested object); the body is checked as a
// whole once, at the top, and a nested object is part of a body already
// checked.
func strictObject(raw []byte, path string) (map[string]json.RawMessage, error) {
	if path == "" {
		if err := checkUTF8(raw); err != nil {
			return nil, err
		}
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		what := "the request body"
		if path != "" {
			what = "'" + path + "'"
		}
		return nil, errBody(http.StatusBadRequest, "UnableToDeserializePostBody",
			fmt.Sprintf("Cannot read %s: expected a JSON object (%s).", what, jsonProblem(raw, err)))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "The request body has data after its JSON object.")
	}
	if path == "" {
		if err := checkText(raw); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// checkUTF8 refuses a body that is not UTF-8: encoding/json would put
// U+FFFD in place of each bad byte and the request would store text the
// client never sent. JSON text exchanged between systems must be UTF-8
// (RFC 8259 §8.1).
func checkUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	at := 0
	for at < len(body) {
		r, n := utf8.DecodeRune(body[at:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		at += n
	}
	return errBody(http.StatusBadRequest, "UnableToDeserializePostBody",
		fmt.Sprintf("The request body is not valid UTF-8 at byte %d (counting from 0); JSON text must be UTF-8.", at))
}

// checkText refuses, in a body encoding/json has read, what it read
// differently from what was sent: a property that appears twice in one
// object (encoding/json keeps the last; OData, like Graph, rejects
// duplicate properties) and an escaped UTF-16 surrogate without its pair
// (encoding/json makes it U+FFFD). JSON v2's syntactic decoder refuses
// both by default (RFC 7493, I-JSON), and says where.
func checkText(body []byte) error {
	_, err := jsontext.NewDecoder(bytes.NewReader(body)).ReadValue()
	var se *jsontext.SyntacticError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName):
		name := dotted(se.JSONPointer)
		return presence.Errorf(presence.Invalid, name, "Property '%s' appears twice in the request body; each property may appear once.", clip(name))
	case errors.As(err, &se):
		// After encoding/json accepted the body, what is left is an
		// unpaired surrogate escape.
		return errBody(http.StatusBadRequest, "UnableToDeserializePostBody",
			fmt.Sprintf("Cannot read the request body at byte %d: %s; a string must hold valid Unicode (a surrogate escape needs its pair).", se.ByteOffset, clip(se.Err.Error())))
	}
	return errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "Cannot read the request body: "+clip(err.Error()))
}

// dotted is a JSON pointer as the dotted property path that error targets
// use ("/statusMessage/message/content" → "statusMessage.message.content").
func dotted(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
