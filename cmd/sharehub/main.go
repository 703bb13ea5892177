// Command sharehub runs the city's government data-sharing hub.
//
//	sharehub demo [--reset]          the hub on SQLite with demo data, on 127.0.0.1:8080
//	sharehub serve [flags]           the hub (SQLite or PostgreSQL, local or S3 blobs)
//	sharehub migrate [flags]         apply database migrations
//	sharehub bootstrap [flags]       create the first admin and print its key
//	sharehub auditor key|list|revoke|disable   auditors, which admins cannot make (三员分立)
//	sharehub audit verify [flags]    recompute and check the whole audit log
//	sharehub import catalog FILE     check (and with --commit write) a catalogue spreadsheet
//	sharehub import seals FILE       check (and with --commit create) seals from a spreadsheet
//	sharehub import licences FILE    check (and with --commit issue) licences; --report lists every error
//	sharehub seal verify FILE.jws    verify a sealed document offline (--document, --jwks)
//	sharehub export catalog|template write the catalogue, or its import template, as xlsx
//	sharehub generate catalog        make a realistic catalogue file for scale tests
//	sharehub sync jobs|run JOB|runs JOB|errors RUN   sync jobs (数据回落)
//	sharehub version
//
// Every flag can also be set with a SHAREHUB_* environment variable
// (--database → SHAREHUB_DATABASE). Run `sharehub COMMAND -h` for flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C (or SIGTERM) asks the command to stop cleanly; from
	// then on the signals act as usual, so a second one ends it at once.
	context.AfterFunc(ctx, stop)
	// SHAREHUB_CPUPROFILE=FILE writes a CPU profile of the whole command:
	// for the long-running CLI commands (imports) that have no pprof
	// listener. See BENCHMARKS.md.
	if path := os.Getenv("SHAREHUB_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sharehub:", err)
		}
		pprof.StopCPUProfile()
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (audit verify uses 1 for a log
// that does not verify, 2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

// isHelp reports whether a command's first argument asks for its help
// rather than naming a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

const usage = `sharehub — the city's government data-sharing hub

Commands:
  demo       run the hub on SQLite with demo data (127.0.0.1:8080); --reset starts clean
  serve      run the hub
  migrate    apply database migrations and exit
  bootstrap  create the first department and admin, and print an admin key
  auditor    auditor key [--name NAME] | list | revoke KEY | disable PRINCIPAL: auditors, whom admins
             cannot make or key over the API (separation of duties, 三员分立)
  audit      audit log tools: audit verify
  import     import catalog|seals|licences FILE [--commit]: check and load a catalogue, seal or licence
             spreadsheet; import licences FILE --report PROBLEMS.csv lists every error in a CSV
  seal       seal verify FILE.jws [--document FILE] [--jwks FILE|URL]: verify a sealed document offline
  export     export catalog|template --out FILE.xlsx
  generate   generate catalog --items N --out FILE.xlsx: a realistic catalogue for scale tests
  licence    licence setup | generate --count N --out FILE.csv|xlsx | attach --type CODE DIR|FILE.zip:
             the e-licence catalogue, test data and licence files
  sync       sync jobs | create SPEC.json | edit JOB --spec SPEC.json | pause JOB | resume JOB | run JOB |
             runs JOB | errors RUN: pull upstream data (数据回落)
  version    print the version

Run 'sharehub COMMAND -h' for a command's flags. The hub's settings
(--database, --blobs, --listen, ...) can also be set with SHAREHUB_*
environment variables, e.g. --database → SHAREHUB_DATABASE; -h marks them.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "bootstrap":
		return cmdBootstrap(ctx, rest, stdout, stderr)
	case "auditor", "auditors":
		return cmdAuditor(ctx, rest, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr)
	case "seal":
		return cmdSeal(ctx, rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "generate":
		return cmdGenerate(ctx, rest, stdout, stderr)
	case "licence", "licences":
		return cmdLicence(ctx, rest, stdout, stderr)
	case "sync":
		return cmdSync(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "sharehub", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
}
