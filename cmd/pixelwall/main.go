// Command pixelwall blocks tracking pixels: an HTTP/HTTPS proxy, a DNS
// resolver and a block log, driven by Adblock, hosts and domain lists.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pixelwall/pixelwall/cmd/pixelwall/internal/service"
	"github.com/pixelwall/pixelwall/proxy/dashboard"
)

// version, when set at build time with -ldflags "-X main.version=…",
// replaces the module version of the build info.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(service.Run(ctx, func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

const usage = `usage: pixelwall [command] [flags]

commands:
  run [-http ADDR|off] [-dns ADDR|off] [-no-refresh] [-v]
        start the proxy (the default command); SIGHUP reloads lists, SIGINT/SIGTERM stop
  ca path|export|regenerate
        where the CA certificate is, print it, or replace it
  lists show|update
        what each list holds, or download the url lists now
  logs [-since DUR] [-client ADDR] [-host H] [-reason R] [-top hosts|rules|lists|clients] [-json] [-follow]
  logs purge [-since DUR]
        review the block log (purge deletes entries older than -since; 0 = all)
  dashboard password
        read a password on stdin and print its hash for dashboard.password_hash
  check [-config FILE] [-list FILE]... [-no-default-lists] [-source URL] [-type TYPE] URL... | -
        decide on URLs (or NDJSON requests from stdin) and print one JSON object each
  service install|uninstall [-purge]|start|stop|restart|status
        run pixelwall as a system service (systemd, launchd, Windows): install writes
        /etc/pixelwall/config.yaml and /var/lib/pixelwall, starts it, and prints the next steps
  version
        print the version, VCS revision and commit time

Every command takes -config FILE and -data DIR. Run "pixelwall <command> -h" for its flags.
`

// run is main without the process: it returns the exit code. ctx ends
// `run` (SIGINT/SIGTERM in main).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "" && args[0][0] == '-' && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		args = append([]string{"run"}, args...) // no command: run
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "ca":
		err = cmdCA(args[1:], stdout, stderr)
	case "lists":
		err = cmdLists(ctx, args[1:], stdout, stderr)
	case "logs":
		err = cmdLogs(ctx, args[1:], stdout, stderr)
	case "dashboard":
		err = cmdDashboard(args[1:], stdin, stdout)
	case "check":
		err = cmdCheck(args[1:], stdin, stdout, stderr)
	case "service":
		err = cmdService(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "pixelwall: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "pixelwall %s: %v\n", args[0], err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "pixelwall %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ error }

// commonFlags are the flags every subcommand takes.
type commonFlags struct {
	config string
	data   string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config `file` (default: embedded defaults)")
	fs.StringVar(&c.data, "data", "", "data `dir` for the CA, list cache and log (default: $XDG_DATA_HOME/pixelwall)")
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pixelwall "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// cmdDashboard is `pixelwall dashboard password`: it hashes a password read
// from standard input for dashboard.password_hash.
func cmdDashboard(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "password" {
		return usageError{fmt.Errorf("want: dashboard password (reads the password on stdin)")}
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 1024))
	if err != nil {
		return err
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if len(pw) < 8 {
		return errors.New("use a password of at least 8 characters")
	}
	h, err := dashboard.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
