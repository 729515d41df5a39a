//go:build !unix

package graphapi

import (
	"errors"
	"net/http"
	"syscall"
)

// directConn: streams are written by their own goroutines here.
func directConn(*http.Request) syscall.RawConn { return nil }

func rawWrite(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
