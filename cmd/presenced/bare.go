package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/presenced/presenced/loadgen"
)

// bareCmd is `presenced bare`, not listed in the usage: the bare net/http
// baseline of `presenced bench` (loadgen.Bare) in a process of its own,
// which bench starts from its own binary and stops by pid. It writes its
// base URL on stdout's first line and serves until stdin ends or a signal.
func bareCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	body := fs.String("get-body", "", "the `document` every GET answers (a real GET presence answer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bare takes only flags; unexpected %q", fs.Arg(0))
	}
	if *body == "" {
		return errors.New("bare: --get-body is required")
	}
	setGCPercent(os.LookupEnv) // as serve: the two servers run alike
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return loadgen.ServeBare(ctx, *addr, []byte(*body), stdin, stdout)
}
