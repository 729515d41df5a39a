package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clockCmd shows or moves a dev-mode server's clock through /dev/clock.
func clockCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("url", "http://127.0.0.1:8080", "`URL` of a presenced running with --dev")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	switch rest := fs.Args(); {
	case len(rest) == 0:
		resp, err = c.Get(strings.TrimSuffix(*server, "/") + "/dev/clock")
	case len(rest) == 2 && rest[0] == "advance":
		resp, err = c.Post(strings.TrimSuffix(*server, "/")+"/dev/clock/advance?by="+url.QueryEscape(rest[1]), "application/json", nil)
	default:
		return fmt.Errorf("usage: presenced clock [--url URL] [advance DURATION], e.g. presenced clock advance PT10M")
	}
	if err != nil {
		// The transport's error ("Post …: dial tcp …: connect: connection
		// refused") says what failed, not what to do: name the server
		// asked, why it did not answer, and the two ways on.
		return fmt.Errorf("no presenced answered at %s (%v): start one with `presenced serve --dev` (from the repository: `go run ./cmd/presenced serve --dev`), or name the one running with --url", *server, transportCause(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusNotFound {
			// Its body ("Resource not found for the segment 'advance'…")
			// is the router's, and says nothing of dev mode: not shown.
			return fmt.Errorf("%s has no dev clock (404 at /dev/clock): a presenced has one only when started with --dev; production servers keep real time", *server)
		}
		// A Graph error says what is wrong in its message; show that.
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error.Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	fmt.Fprintln(stdout, string(bytes.TrimSpace(body)))
	return nil
}

// transportCause is the innermost reason of a client's transport error
// ("connect: connection refused", "i/o timeout"), without the method and
// URL the url.Error repeats.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
