// Package guid makes random (version 4) GUIDs, the identifier format of
// Graph and Entra: request ids, token ids, subscription ids.
package guid

import (
	"crypto/rand"
	"fmt"
)

// New returns a random version 4 GUID in lowercase canonical form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
