// Package service installs pixelwall as a system service (systemd on Linux,
// launchd on macOS, the Windows service manager) and reports on an installed
// one: the config and data directory it writes, the hardened systemd unit,
// the next steps with this host's addresses, `service status`, the build's
// version, and the memory limit of the cgroup the process runs in.
//
// It lives under cmd/pixelwall because only the command uses it; it reads
// pixelwall's config through a function the command passes in (the config
// format belongs to the command), and speaks to the service manager
// through the Manager interface, which github.com/kardianos/service
// implements and tests replace.
package service

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Name is the service's name: the systemd unit is pixelwall.service.
const Name = "pixelwall"

// Layout is where an install puts its files. Root prefixes every path when
// files are written or read, so that tests install into a temporary
// directory; the other paths are the ones the service itself sees.
type Layout struct {
	// Root is "" (or "/") for the real system.
	Root string
	// ConfigFile is the config the service runs with.
	ConfigFile string
	// DataDir holds the CA, the list cache and the block log. On Linux it
	// must be under /var/lib (systemd's StateDirectory).
	DataDir string
	// Executable is the pixelwall binary the service runs.
	Executable string
}

// DefaultLayout is the system's layout, running exe.
func DefaultLayout(exe string) Layout {
	if runtime.GOOS == "windows" {
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return Layout{ConfigFile: filepath.Join(base, "pixelwall", "config.yaml"), DataDir: filepath.Join(base, "pixelwall", "data"), Executable: exe}
	}
	return Layout{ConfigFile: "/etc/pixelwall/config.yaml", DataDir: "/var/lib/pixelwall", Executable: exe}
}

// path is p as seen from the process doing the install (under Root).
func (l Layout) path(p string) string {
	if l.Root == "" || l.Root == "/" {
		return p
	}
	return filepath.Join(l.Root, p)
}

// arguments are the ones the service runs pixelwall with.
func (l Layout) arguments() []string {
	return []string{"run", "-config", l.ConfigFile, "-data", l.DataDir}
}

// stateDirectory is DataDir relative to /var/lib, for systemd's
// StateDirectory; ok is false when DataDir is elsewhere.
func (l Layout) stateDirectory() (string, bool) {
	rel, ok := strings.CutPrefix(filepath.Clean(l.DataDir), "/var/lib/")
	return rel, ok && rel != "" && !strings.HasPrefix(rel, "..")
}
