package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"

	"github.com/pixelwall/pixelwall/cmd/pixelwall/internal/service"
)

// cmdService is `pixelwall service install|uninstall|start|stop|restart|status`.
func cmdService(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("service", stderr)
	var common commonFlags
	common.register(fs)
	purge := fs.Bool("purge", false, "uninstall: also remove the config and the data dir (the CA and the block log)")
	// Flags may stand before or after the action.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("want install, uninstall, start, stop, restart or status")}
	}
	action := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if !slices.Contains([]string{"install", "uninstall", "start", "stop", "restart", "status"}, action) {
		return usageError{fmt.Errorf("unknown action %q: want install, uninstall, start, stop, restart or status", action)}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	l := service.DefaultLayout(exe)
	if common.config != "" {
		l.ConfigFile = common.config
	}
	if common.data != "" {
		l.DataDir = common.data
	}
	m, err := service.SystemManager(l)
	if err != nil {
		if action != "status" {
			return err
		}
		m = service.Unavailable(err) // the config's listeners and lists can still be shown
	}
	settings := func(path string) (service.Settings, error) { return serviceSettings(path, l.DataDir) }
	in := &service.Installer{Layout: l, Manager: m, Settings: settings, Addrs: service.InterfaceAddrs, CheckDNS: service.CheckDNS, Out: stdout}
	switch action {
	case "install":
		return in.Install()
	case "uninstall":
		return in.Uninstall(*purge)
	case "start":
		return m.Start()
	case "stop":
		return m.Stop()
	case "restart":
		return m.Restart()
	default: // status
		return in.Status(versionString())
	}
}

// serviceSettings is what `service` needs to know of a config file, for a
// service run with -data data.
func serviceSettings(path, data string) (service.Settings, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return service.Settings{}, err
	}
	var s service.Settings
	for _, ln := range []service.Listener{{Name: "http proxy", Addr: cfg.HTTP.Listen}, {Name: "dns", Addr: cfg.DNS.Listen}, {Name: "dashboard", Addr: cfg.Dashboard.Listen}} {
		if ln.Addr != "off" && ln.Addr != "" {
			s.Listeners = append(s.Listeners, ln)
		}
	}
	for _, l := range listsConfig(cfg, nil, false).Lists {
		if l.URL != "" {
			s.URLLists = append(s.URLLists, l.Name)
		}
	}
	s.LogPath = logPath(cfg, data)
	return s, nil
}

// versionString is `pixelwall version`'s line.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	override := ""
	if version != "dev" {
		override = version
	}
	return service.Version(bi, ok, override)
}
