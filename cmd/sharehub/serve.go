package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

func versionString() string {
	v := hub.Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sharehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string, check func() error) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &exitError{2, err}
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if check != nil {
		if err := check(); err != nil {
			return &exitError{2, err}
		}
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("serve", stderr)
	check := configFlags(fs, &cfg)
	checkMigrate := boolFlag(fs, &cfg.Migrate, "migrate", "apply migrations at start (false: refuse to start unless the schema is current)")
	checkShutdown := durationFlag(fs, &cfg.Shutdown, "shutdown-timeout", "how long in-flight requests may take after SIGTERM")
	if err := parse(fs, args, allOf(checkMigrate, checkShutdown, check)); err != nil {
		return err
	}
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("migrate", stderr)
	check := configFlags(fs, &cfg)
	if err := parse(fs, args, check); err != nil {
		return err
	}
	cfg.Migrate = false
	d, err := hub.OpenDBUnchecked(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.Migrate(ctx)
	if err != nil {
		return err
	}
	v, _ := d.SchemaVersion(ctx)
	fmt.Fprintf(stdout, "applied %d migration(s); %s is at schema version %d\n", n, d.URL, v)
	return nil
}
