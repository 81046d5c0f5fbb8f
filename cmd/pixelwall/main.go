// Command pixelwall blocks tracking pixels: an HTTP/HTTPS proxy, a DNS
// resolver and a block log, driven by Adblock, hosts and domain lists.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

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
  run [-http ADDR|off] [-dns ADDR|off] [-dashboard ADDR|off] [-no-refresh] [-v]
        start the proxy (the default command); SIGHUP reloads lists, SIGINT/SIGTERM stop
  ca path|export|regenerate
        where the CA certificate is, print it, or replace it
  lists show|update
        what each list holds (and its last error), or download the url lists now
  logs [-since DUR] [-client ADDR] [-host H] [-kind K] [-layer http|dns] [-top hosts|rules|lists|clients|kinds] [-n N] [-json] [-follow]
  logs purge -since DUR | -all
        review the block log, or delete entries older than -since (every entry with -all)
  dashboard password
        ask for a password and print its hash for dashboard.password_hash
  check [-list FILE]... [-no-default-lists] [-source URL] [-type TYPE] URL... | -
        decide on URLs (or NDJSON requests from stdin) and print one JSON object each
  service install|uninstall [-purge]|start|stop|restart|status
        run pixelwall as a system service (systemd, launchd, Windows): install writes
        /etc/pixelwall/config.yaml and /var/lib/pixelwall, starts it, and prints the next steps
  pause [-client NAME | -group NAME | -site DOMAIN] [DURATION | -until TIME]
  resume [-client NAME | -group NAME | -site DOMAIN]
        let everything (or one client, group or site) through for a while,
        or until resumed, in the running pixelwall
  version
        print the version, VCS revision and commit time

Every command takes -config FILE and -data DIR, before or after its subcommand.
Durations are written 90s, 10m, 12h, 30d or 1d12h.
Run "pixelwall <command> -h" for a command's flags.
`

// commandHelp is each command's synopsis, shown by -h above its flags.
var commandHelp = map[string]string{
	"run": `pixelwall run [-http ADDR|off] [-dns ADDR|off] [-dashboard ADDR|off] [-no-refresh] [-v]

Start every configured service (the default command). -http, -dns and
-dashboard override the config's listen addresses; "off" disables that
service; port 0 picks a free port. One line per listener gives its address.
SIGHUP reloads the config's lists, allow and deny; SIGINT and SIGTERM stop.`,
	"ca": `pixelwall ca path|export|regenerate

subcommands:
  path        print where the CA certificate is (created on first use)
  export      print the CA certificate (PEM), to install on devices
  regenerate  replace the CA; every device must install the new one`,
	"lists": `pixelwall lists show|update

subcommands:
  show    per list: source, rules by kind, bad lines, last update, next
          refresh and the last download error
  update  download the url lists now and tell a running pixelwall to reload`,
	"logs": `pixelwall logs [-since DUR] [-client ADDR] [-host H] [-kind K] [-layer http|dns]
               [-top hosts|rules|lists|clients|kinds] [-n N] [-json] [-follow]
       pixelwall logs purge -since DUR | -all

Show the block log, oldest first; -top counts instead. -kind selects the
log's KIND column (-reason is an alias of -kind).

subcommands:
  purge  delete entries older than -since (-since 0 or -all: every entry)`,
	"dashboard": `pixelwall dashboard password

subcommands:
  password  ask for a password (twice and without echo on a terminal; one
            line when piped) and print its bcrypt hash for
            dashboard.password_hash`,
	"pause": `pixelwall pause [-client NAME | -group NAME | -site DOMAIN] [DURATION | -until TIME]

Stop blocking in the running pixelwall, for everything or one client (a
name from clients: or an address), group or site, for DURATION (5m, 1h,
1d), until TIME (RFC 3339, or 18:00 for the next 18:00) or, with neither,
until "pixelwall resume". It asks the running
instance through the dashboard's API; with a dashboard password, set
$PIXELWALL_PASSWORD.`,
	"resume": `pixelwall resume [-client NAME | -group NAME | -site DOMAIN]

End the pause of a client, group or site; without a selector, end every
pause.`,
	"check": `pixelwall check [-list FILE]... [-no-default-lists] [-source URL] [-type TYPE] URL... | -

Decide on each URL (with "-": on each NDJSON request read from stdin) and
print one JSON object per request. A -list file that cannot be read is an
error.`,
}

// commands are the names run dispatches on.
var commands = []string{"run", "ca", "lists", "logs", "dashboard", "check", "pause", "resume", "version", "help"}

// run is main without the process: it returns the exit code. ctx ends
// `run` (SIGINT/SIGTERM in main).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args = commandFirst(args)
	if len(args) == 0 || args[0] != "" && args[0][0] == '-' && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		args = append([]string{"run"}, args...) // no command: run
	}
	if args[0] == "help" && len(args) > 1 && commandHelp[args[1]] != "" {
		args = []string{args[1], "-h"} // "pixelwall help logs"
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
		err = cmdDashboard(args[1:], stdin, stdout, stderr)
	case "check":
		err = cmdCheck(args[1:], stdin, stdout, stderr)
	case "service":
		err = cmdService(args[1:], stdout, stderr)
	case "pause", "resume":
		err = cmdPause(ctx, args[0], args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "pixelwall: unknown command %q: want one of %s\nRun \"pixelwall -h\" for usage.\n", args[0], strings.Join(commands, ", "))
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "pixelwall %s: %v\nRun \"pixelwall %s -h\" for usage.\n", args[0], err, args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "pixelwall %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// commandFirst moves the command to the front when flags precede it
// ("pixelwall -data D lists show" is "pixelwall lists -data D show"). Only
// -config and -data are known to take a value here, as they are the flags
// every command has; without a command name the arguments are run's.
func commandFirst(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			switch strings.TrimLeft(a, "-") {
			case "config", "data":
				i++ // its value
			}
			continue
		}
		if !slices.Contains(commands, a) {
			break
		}
		return slices.Concat([]string{a}, args[:i], args[i+1:])
	}
	return args
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

// newFlagSet is the flag set of a command; its help (on -h, to stdout)
// is the command's synopsis from commandHelp and its flags. Parse it with
// parseFlags.
func newFlagSet(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pixelwall "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed once, by run
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: %s\n\nflags:\n", commandHelp[name])
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args with fs and returns the positional arguments.
// Flags may stand before, between and after them ("lists show -config f"
// is "lists -config f show"), so every command takes them around its
// subcommand; after "--" everything is positional. -h prints the help and
// returns flag.ErrHelp; a bad flag is a usageError.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	help := fs.Usage
	fs.Usage = func() {} // flag calls it on errors too
	defer func() { fs.Usage = help }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// cmdDashboard is `pixelwall dashboard password`: it asks for a password
// and prints its hash for dashboard.password_hash.
func cmdDashboard(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("dashboard", stdout)
	var common commonFlags
	common.register(fs) // accepted as by every command; the hash needs neither
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "password" {
		return usageError{fmt.Errorf("want: dashboard password")}
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
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

// readPassword asks twice without echo when stdin is a terminal (prompts
// on stderr, so that stdout is only the hash), else reads one line: a
// piped password needs no end of input.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) ([]byte, error) {
			fmt.Fprint(stderr, prompt)
			defer fmt.Fprintln(stderr)
			return term.ReadPassword(int(f.Fd()))
		}
		first, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if !bytes.Equal(first, again) {
			return "", errors.New("the two passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on stdin")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
