// Command presenced runs the presence server and its operator commands.
//
//	presenced serve --dev              the server with the demo tenant, on 127.0.0.1:8080
//	                                   (five named users and 10,000 generated ones)
//	presenced serve --directory d.json production mode
//	presenced clock advance PT10M      move a dev-mode server's clock forward
//	presenced check --data DIR         verify a data directory's engine files
//	presenced healthcheck              is the server on this machine ready?
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
)

func main() {
	os.Exit(exit(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exit prints a command's error and gives the process's exit status: 0
// for none, and for -h or --help, whose usage the command's flags have
// printed already (as a flag.ExitOnError set exits; it used to say
// "presenced: flag: help requested" and exit 1, as if asking for help were
// a mistake); 1 for any other error.
func exit(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, errorLine(err))
	return 1
}

// errorLine is the line main prints for a command's error: "presenced: "
// once, then the error. The server's own errors already start with it
// (they are also returned to programs that embed it), and printing them
// with a second one read "presenced: presenced: data directory … is in use".
func errorLine(err error) string {
	msg := err.Error()
	for strings.HasPrefix(msg, "presenced: ") {
		msg = strings.TrimPrefix(msg, "presenced: ")
	}
	return "presenced: " + msg
}

const usage = `presenced — a self-hosted Microsoft Graph presence server

Usage:
  presenced serve [flags]           run the server (presenced serve -h for flags)
  presenced clock [flags] [advance DURATION]
                                    show or move a dev-mode server's clock
  presenced bench [flags]           load-test a presenced (presenced bench -h for flags)
  presenced check --data DIR        verify the engine's files without serving; exits 1 on damage
  presenced healthcheck             exit 0 if the server on this machine is ready (GET /readyz)
  presenced directory import FILE   replace the directory with a directory file, all or nothing
  presenced directory export        write the directory as a directory file (hashes, not secrets)
  presenced admin …                 tenants, domains, external access, applications, SCIM tokens,
                                    trusted issuers (presenced admin -h)
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "clock":
		return clockCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "check":
		return checkCmd(args[1:], stdout, stderr)
	case "directory":
		return directoryCmd(args[1:], stdout, stderr)
	case "admin":
		return adminCmd(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(args[1:], stdout, stderr)
	case "bare": // bench's baseline in its own process; not in the usage
		return bareCmd(args[1:], os.Stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg presenced.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen `address`")
	fs.StringVar(&cfg.DataDir, "data", "presenced-data", "data `directory` (engine files, token signing key)")
	fs.BoolVar(&cfg.Dev, "dev", false, "dev mode: demo tenant unless --directory is given, and /dev/clock to move time forward")
	fs.StringVar(&cfg.DirectoryFile, "directory", "", "directory `file` to seed the engine's directory with: imported when the engine has none, or when the file changed and the directory was not changed otherwise since (docs/directory.md)")
	fs.StringVar(&cfg.IssuerCAFile, "issuer-ca-file", "", "PEM `file` of CA certificates trusted, beside the system's, for the discovery documents and keys of external issuers (docs/identity.md)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base `URL` clients use to reach the server (token issuer); default http://ADDR")
	fs.BoolVar(&cfg.AllowPrivateWebhooks, "allow-private-webhooks", false, "let notification URLs point at loopback, private and link-local addresses (always allowed with --dev)")
	fs.IntVar(&cfg.SessionsPerApp, "sessions-per-app", presence.DefaultSessionsPerApp, "most live presence sessions one application may hold for one user (`N`, at most 1024)")
	fs.IntVar(&cfg.SessionsPerUser, "sessions-per-user", presence.DefaultSessionsPerUser, "most live presence sessions of one user, all applications together (`N`, at most 1024)")
	fs.BoolVar(&cfg.SyncAlways, "sync-always", false, "fsync every write (survives power loss; slower). Crashes lose nothing either way")
	fs.IntVar(&cfg.NotifyQueue, "notify-queue", notify.DefaultMaxQueue, "`N` changes a live stream or webhook subscription may hold in memory; a stream further behind is reset, a subscription reads from the change log")
	fs.BoolVar(&cfg.AcceptDataLoss, "accept-data-loss", false, "start even though the engine lost data it had on disk (damaged or deleted files), with what remains; the loss is logged and not reported again (docs/durability.md)")
	changeLogMiB := fs.Int64("change-log-max-mib", 0, "most `MiB` the change log keeps on disk (the engine reserves it); 0: a quarter of the data volume, at most 1024")
	diskReserveMiB := fs.Int64("disk-reserve-mib", 0, "`MiB` writes leave free on the data volume: below it they fail at once with 503 until space is freed; 0: 1% of the volume, between 1 and 256")
	fs.IntVar(&cfg.DemoUsers, "demo-users", defaultDemoUsers, "with --dev and no --directory: add `N` generated users, user1…userN@contoso.dev, to the demo tenant (presenced bench spreads its load over them)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	var memLimit memoryLimitFlag
	fs.Var(&memLimit, "memory-limit", "soft limit of the process's memory, for the garbage collector (Go's GOMEMLIMIT): a `size` such as 6GiB or 600MB, or a share of the machine's memory such as 75%; 0: none (GOGC alone); auto (the default): the live heap plus a quarter of it, never less than 64 MiB over it, re-derived every 2 s — none under 128 MiB of live heap (GOGC alone), on a large heap about 1.25 × the live heap, for more collections under writes (docs/running.md#memory-and-start-up)")
	debugAddr := fs.String("debug-addr", "", "serve Go's profiler (net/http/pprof, /debug/pprof/) on this `address`; off when empty. Keep it on loopback: it has no authentication")
	applyLimits := limitFlags(fs, &cfg)
	applyThrottle := throttleFlags(fs, &cfg)
	applyOps := opsFlags(fs, &cfg)
	applyCluster := clusterFlags(fs, &cfg)
	if err := fromEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyLimits(); err != nil {
		return err
	}
	if err := applyThrottle(); err != nil {
		return err
	}
	if err := applyCluster(); err != nil {
		return err
	}
	if *changeLogMiB < 0 || *diskReserveMiB < 0 {
		return errors.New("--change-log-max-mib and --disk-reserve-mib take a number of MiB, 0 for the default")
	}
	cfg.ChangeLogMaxBytes, cfg.DiskReserve = *changeLogMiB<<20, *diskReserveMiB<<20
	if !cfg.Dev || cfg.DirectoryFile != "" {
		demoSet := false
		fs.Visit(func(f *flag.Flag) { demoSet = demoSet || f.Name == "demo-users" })
		if demoSet {
			return errors.New("--demo-users adds to dev mode's demo tenant: it needs --dev and no --directory")
		}
		cfg.DemoUsers = 0
	}
	if cfg.DemoUsers < 0 || cfg.DemoUsers > directory.MaxDemoUsers {
		return fmt.Errorf("--demo-users must be 0 to %d, not %d", directory.MaxDemoUsers, cfg.DemoUsers)
	}
	var lv slog.Level
	var err error
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	var closeLog func()
	if cfg.Logger, closeLog, err = applyOps(stderr, lv); err != nil {
		return err
	}
	defer closeLog()

	setGCPercent(os.LookupEnv)
	limit, fromLive := memLimit.apply()
	if limit != math.MaxInt64 {
		cfg.Logger.Info("memory limit", "bytes", limit)
	}
	srv, err := presenced.New(cfg)
	if err != nil {
		return err
	}
	if *debugAddr != "" {
		ln, err := net.Listen("tcp", *debugAddr)
		if err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		defer ln.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() { _ = http.Serve(ln, mux) }()
		cfg.Logger.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	}
	ctx, interactive, stop := stopSignals()
	defer stop()
	collected := collectorOffForStart(limit, machineMemory, cfg.Logger, clock.Real{})
	if err := srv.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// SIGTERM or SIGINT during the start (a supervisor stopping a
			// unit still starting): a stop as asked, not a failure, and
			// the start's error is only how it was cut short.
			cfg.Logger.Info("the start was cut short by the signal", "err", err)
			fmt.Fprintln(stdout, "presenced: stopped while starting, as the signal asked; nothing was served")
			return nil
		}
		return err
	}
	// The start's one collection, before the server says it listens
	// rather than beside the first requests (the first second after
	// listening is a target), the start's garbage handed back to the
	// system.
	collected()
	printWelcome(stdout, srv, cfg)
	if fromLive {
		stopFollow := make(chan struct{})
		defer close(stopFollow)
		go followLiveHeap(stopFollow, cfg.Logger)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-srv.Done():
			return err
		case <-hup: // the operator edited the directory file, or renewed the certificate
			reload(srv, cfg)
		}
	}
	stop() // a second SIGINT or SIGTERM ends the process at once
	fmt.Fprintln(stdout, "presenced: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownDrain+10*time.Second)
	defer cancel()
	if interactive() {
		return srv.ShutdownNow(sctx) // Ctrl-C at a terminal: no load balancer to wait for
	}
	return srv.Shutdown(sctx)
}

// defaultDemoUsers is how many generated users `serve --dev` adds to the
// demo tenant, and how many `bench` spreads its load over by default: with
// 64 writers on 10,000 users, a write waits for another to the same user
// (the user's lock and the engine's revision check) well under 1 % of the
// time, as in BenchmarkHTTP; on the five named users nearly every write
// would. The directory takes about 2 MB more for them.
const defaultDemoUsers = 10_000

// defaultGCPercent is the server's GOGC unless the environment sets one:
// Go's own default. What bounds a large server's memory is the limit
// derived from its live heap (memauto.go); GOGC alone decides below 128 MiB
// live (no limit there), where 100 costs a few megabytes and halves the
// collections of 50 (docs/performance.md, "The collector's default policy").
const defaultGCPercent = 100

// setGCPercent applies defaultGCPercent unless the environment has GOGC
// (which the runtime has applied already).
func setGCPercent(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// demoGenerated is how many of the demo's generated users the directory
// holds, user1…userN: what --demo-users seeded, which is not the flag's
// value on a data directory whose directory was changed since its seeding
// (kept as it is, said in the log). It said the flag's number, so a
// restart with another --demo-users announced users that did not exist,
// or none of the 10,000 that did.
func demoGenerated(d *directory.Directory) int {
	has := func(i int) bool { _, ok := d.User(directory.DemoUserID(i)); return ok }
	// The largest n with user n present, the seeded ones being 1…n.
	lo, hi := 0, directory.MaxDemoUsers+1 // user lo present (or lo 0), user hi absent
	if !has(1) {
		return 0
	}
	lo = 1
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if has(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func printWelcome(w io.Writer, srv *presenced.Server, cfg presenced.Config) {
	mode := ""
	if cfg.Dev {
		mode = " (dev mode)"
	}
	u := srv.URL()
	fmt.Fprintf(w, "presenced listening on %s%s, data in %s\n", u, mode, cfg.DataDir)
	fmt.Fprintf(w, "Graph presence API: %s/v1.0 and %s/beta\n", u, u)
	fmt.Fprintf(w, "Presence board: %s/ (sign in in the browser)\n", u)
	if cfg.Dev && cfg.DirectoryFile == "" {
		fmt.Fprintf(w, `
Demo tenant %s (%s). Get an application token:
  curl -s %s/%s/oauth2/v2.0/token -d grant_type=client_credentials \
    -d client_id=%s -d client_secret=%s -d scope=https://graph.microsoft.com/.default
or a user's token (password %s):
  curl -s %s/%s/oauth2/v2.0/token -d grant_type=password -d client_id=%s \
    -d username=adele@contoso.dev -d password=%s -d scope=https://graph.microsoft.com/.default
Move time forward: curl -s -X POST '%s/dev/clock/advance?by=PT10M'
`, "contoso.dev", directory.DemoTenantID, u, directory.DemoTenantID, directory.DemoDaemonClientID, directory.DemoDaemonSecret,
			directory.DemoPassword, u, directory.DemoTenantID, directory.DemoClientID, directory.DemoPassword, u)
		if n := demoGenerated(srv.Directory()); n > 0 {
			fmt.Fprintf(w, "Besides adele, alex, megan, lynne and diego: %d generated users, %s…%s (ids %s…), same password.\n",
				n, directory.DemoUserUPN(1), directory.DemoUserUPN(n), directory.DemoUserID(1))
		}
	}
}
