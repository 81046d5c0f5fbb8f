package main

import (
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pixelwall/pixelwall/cmd/pixelwall/internal/service"
)

// TestServiceConfigLoads: the config `service install` writes is one the
// config loader takes, with the listeners and client networks it says.
func TestServiceConfigLoads(t *testing.T) {
	l := service.DefaultLayout("/usr/local/bin/pixelwall")
	nets := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00:1::/64")}
	for name, networks := range map[string][]netip.Prefix{"home network": nets, "none found": nil} {
		t.Run(name, func(t *testing.T) {
			var ups []string
			if networks != nil {
				ups = []string{"192.168.1.1", "2001:db8::53"}
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(service.ConfigYAML(l, networks, ups)), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DNS.Listen != "0.0.0.0:53" || cfg.HTTP.Listen != "0.0.0.0:8080" || cfg.Dashboard.Listen != "127.0.0.1:8081" {
				t.Errorf("listeners %q %q %q", cfg.DNS.Listen, cfg.HTTP.Listen, cfg.Dashboard.Listen)
			}
			if !slices.Equal(cfg.DNS.Upstreams, ups) {
				t.Errorf("upstreams %q, want %q", cfg.DNS.Upstreams, ups)
			}
			if cfg.DataDir != l.DataDir {
				t.Errorf("data_dir %q, want %q", cfg.DataDir, l.DataDir)
			}
			want := []string{"127.0.0.0/8", "::1/128"}
			for _, n := range networks {
				want = append(want, n.String())
			}
			if !slices.Equal(cfg.DNS.AllowClients, want) || !slices.Equal(cfg.HTTP.AllowClients, want) {
				t.Errorf("allow_clients dns %v http %v, want %v", cfg.DNS.AllowClients, cfg.HTTP.AllowClients, want)
			}
			s, err := serviceSettings(path, l.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Listeners) != 3 || !slices.Equal(s.URLLists, []string{"easyprivacy"}) || s.LogPath != "/var/lib/pixelwall/log/pixelwall.db" {
				t.Errorf("settings %+v", s)
			}
		})
	}
}

func TestServiceCommandLine(t *testing.T) {
	for _, args := range [][]string{{"service"}, {"service", "frobnicate"}, {"service", "status", "extra"}} {
		if code, _, errOut := runCmd(t, "", args...); code != 2 || !strings.Contains(errOut, "want install, uninstall") && !strings.Contains(errOut, "unexpected arguments") {
			t.Errorf("%v: exit %d, %q; want 2 and what is wanted", args, code, errOut)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCmd(t, "", "version")
	if code != 0 {
		t.Fatalf("version: exit %d", code)
	}
	// The test binary has build info; its main module is this one, built
	// from the work tree.
	want := "pixelwall devel ("
	if !strings.HasPrefix(out, want) || !strings.Contains(out, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")") {
		t.Errorf("version printed %q, want %q… with the Go version and platform", out, want)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && !strings.Contains(out, s.Value[:min(12, len(s.Value))]) {
				t.Errorf("version printed %q, want the revision %s", out, s.Value)
			}
		}
	}
}

// TestMemoryLimitUnderCgroup: a cgroup's memory limit caps the soft limit
// even when the live heap would raise it.
func TestMemoryLimitUnderCgroup(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	g := memoryGovernor{cap: func() int64 { return 64 << 20 }}
	grown := make([][]byte, 0, 64)
	for range 64 {
		grown = append(grown, make([]byte, 2<<20))
	}
	runtime.GC()
	g.adjust()
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("limit %d with 128 MiB live under a cgroup cap of 64 MiB, want the cap", got)
	}
	runtime.KeepAlive(grown)
}

// TestRunDNSAddressTakenNamesTheHolder: `run` on a DNS address this test
// holds says which process holds it (this test binary) and what to do.
func TestRunDNSAddressTakenNamesTheHolder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder is read from /proc")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	code, _, errOut := runCmd(t, "", "run", "-data", t.TempDir(), "-no-refresh", "-http", "off", "-dns", addr)
	self, _ := os.Executable()
	comm := filepath.Base(self)[:min(15, len(filepath.Base(self)))]
	for _, want := range []string{"address already in use", "held by: " + comm + " (pid " + strconv.Itoa(os.Getpid()), "fix: "} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
	}
}
