package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var testLayout = Layout{ConfigFile: "/etc/pixelwall/config.yaml", DataDir: "/var/lib/pixelwall", Executable: "/usr/local/bin/pixelwall"}

func TestSystemdUnit(t *testing.T) {
	unit, err := SystemdUnit(testLayout)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(unit, "\n")
	for _, want := range []string{
		"ExecStart=/usr/local/bin/pixelwall run -config /etc/pixelwall/config.yaml -data /var/lib/pixelwall",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"DynamicUser=yes",
		"StateDirectory=pixelwall",
		"StateDirectoryMode=0700",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"StandardOutput=journal",
		"StandardError=journal",
		"WantedBy=multi-user.target",
	} {
		t.Run(want, func(t *testing.T) {
			if !slices.Contains(lines, want) {
				t.Errorf("unit lacks the line %q:\n%s", want, unit)
			}
		})
	}
	for _, line := range lines {
		key, value, _ := strings.Cut(line, "=")
		switch {
		case key == "User" || key == "Group":
			t.Errorf("unit sets %s (want DynamicUser only): %q", key, line)
		case key == "AmbientCapabilities" || key == "CapabilityBoundingSet":
			if value != "CAP_NET_BIND_SERVICE" {
				t.Errorf("%s: want only CAP_NET_BIND_SERVICE", line)
			}
		case strings.Contains(line, "{{"):
			t.Errorf("template action left in the unit: %q", line)
		}
	}
	for _, section := range []string{"[Unit]", "[Service]", "[Install]"} {
		if !slices.Contains(lines, section) {
			t.Errorf("unit lacks %s", section)
		}
	}
}

func TestSystemdUnitPaths(t *testing.T) {
	for _, tc := range []struct {
		name    string
		l       Layout
		exec    string // the ExecStart line; "" for an error
		stateDr string
	}{
		{"space in the path", Layout{ConfigFile: "/etc/pixel wall/c.yaml", DataDir: "/var/lib/pw", Executable: "/opt/pixel wall/pixelwall"},
			`ExecStart="/opt/pixel wall/pixelwall" run -config "/etc/pixel wall/c.yaml" -data /var/lib/pw`, "StateDirectory=pw"},
		{"specifier and variable", Layout{ConfigFile: "/etc/p%n/$X.yaml", DataDir: "/var/lib/a/b", Executable: "/usr/bin/pixelwall"},
			`ExecStart=/usr/bin/pixelwall run -config "/etc/p%%n/$$X.yaml" -data /var/lib/a/b`, "StateDirectory=a/b"},
		{"data outside /var/lib", Layout{ConfigFile: "/etc/p.yaml", DataDir: "/srv/pixelwall", Executable: "/usr/bin/pixelwall"}, "", ""},
		{"data is /var/lib", Layout{ConfigFile: "/etc/p.yaml", DataDir: "/var/lib", Executable: "/usr/bin/pixelwall"}, "", ""},
		{"relative executable", Layout{ConfigFile: "/etc/p.yaml", DataDir: "/var/lib/pixelwall", Executable: "pixelwall"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unit, err := SystemdUnit(tc.l)
			if tc.exec == "" {
				if err == nil {
					t.Fatalf("SystemdUnit(%+v) = nil error, want one", tc.l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(unit, "\n")
			for _, want := range []string{tc.exec, tc.stateDr} {
				if !slices.Contains(lines, want) {
					t.Errorf("unit lacks %q:\n%s", want, unit)
				}
			}
		})
	}
}

func TestCheckExecutable(t *testing.T) {
	for exe, ok := range map[string]bool{
		"/usr/local/bin/pixelwall":       true,
		"/opt/pixelwall/pixelwall":       true,
		"/home/ann/go/bin/pixelwall":     false,
		"/root/pixelwall":                false,
		"/tmp/go-build123/exe/pixelwall": false,
	} {
		if err := checkExecutable(exe); (err == nil) != ok {
			t.Errorf("checkExecutable(%s) = %v, want ok=%v", exe, err, ok)
		}
	}
}

func TestSystemUpstreams(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("192.168.1.23")}
	for _, tc := range []struct {
		name         string
		resolv, stub string // /etc/resolv.conf, systemd-resolved's real list
		want         []string
	}{
		{"router", "# dhcp\nnameserver 192.168.1.1\nnameserver 2001:db8::53\nsearch lan\n", "", []string{"192.168.1.1", "2001:db8::53"}},
		{"itself left out", "nameserver 192.168.1.23\nnameserver 127.0.0.1\nnameserver 9.9.9.9\n", "", []string{"9.9.9.9"}},
		{"systemd-resolved's stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", "nameserver 192.168.1.1\nnameserver fe80::1%eth0\n", []string{"192.168.1.1"}},
		{"only itself", "nameserver 192.168.1.23\n", "", nil},
		{"none", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for path, text := range map[string]string{"etc/resolv.conf": tc.resolv, "run/systemd/resolve/resolv.conf": tc.stub} {
				if text == "" {
					continue
				}
				os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755)
				if err := os.WriteFile(filepath.Join(root, path), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := SystemUpstreams(root, own); !slices.Equal(got, tc.want) {
				t.Errorf("SystemUpstreams = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPrivateNetworks(t *testing.T) {
	in := []netip.Prefix{
		netip.MustParsePrefix("192.168.1.23/24"),
		netip.MustParsePrefix("203.0.113.5/24"), // public: not served
		netip.MustParsePrefix("10.8.0.1/16"),
		netip.MustParsePrefix("192.168.1.24/24"), // same network again
		netip.MustParsePrefix("fd12:3456::1/64"),
		netip.MustParsePrefix("fe80::1/64"), // link-local
		netip.MustParsePrefix("2001:db8::1/64"),
	}
	got := PrivateNetworks(in)
	want := []netip.Prefix{netip.MustParsePrefix("10.8.0.0/16"), netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd12:3456::/64")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PrivateNetworks = %v, want %v", got, want)
	}
	if h := hostAddrs(in); len(h) != 4 || h[0] != netip.MustParseAddr("192.168.1.23") || h[3] != netip.MustParseAddr("fd12:3456::1") {
		t.Errorf("hostAddrs = %v, want the private IPv4 addresses first, then fd12:3456::1", h)
	}
}

// fakeManager stands for systemd: it keeps the unit where systemd's would
// be under the test's root and records what it was asked.
type fakeManager struct {
	root, unit string
	state      State
	calls      []string
}

func (f *fakeManager) unitPath() string {
	return filepath.Join(f.root, "etc/systemd/system/pixelwall.service")
}

func (f *fakeManager) Install() error {
	f.calls = append(f.calls, "install")
	if _, err := os.Stat(f.unitPath()); err == nil {
		return errors.New("already installed")
	}
	if err := os.MkdirAll(filepath.Dir(f.unitPath()), 0o755); err != nil {
		return err
	}
	f.state = StateStopped
	return os.WriteFile(f.unitPath(), []byte(f.unit), 0o644)
}

func (f *fakeManager) Uninstall() error {
	f.calls = append(f.calls, "uninstall")
	f.state = StateNotInstalled
	return os.Remove(f.unitPath())
}
func (f *fakeManager) Start() error {
	f.calls = append(f.calls, "start")
	f.state = StateRunning
	return nil
}
func (f *fakeManager) Stop() error {
	f.calls = append(f.calls, "stop")
	f.state = StateStopped
	return nil
}
func (f *fakeManager) Restart() error { f.calls = append(f.calls, "restart"); return nil }
func (f *fakeManager) Status() (State, error) {
	return f.state, nil
}
func (f *fakeManager) Platform() string { return "linux-systemd" }

// yamlSettings reads the keys the installer needs from a config with a
// YAML parser of its own: the generated config must be plain YAML.
func yamlSettings(path string) (Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, err
	}
	var c struct {
		DataDir string `yaml:"data_dir"`
		HTTP    struct {
			Listen       string   `yaml:"listen"`
			AllowClients []string `yaml:"allow_clients"`
		} `yaml:"http"`
		DNS struct {
			Listen       string   `yaml:"listen"`
			AllowClients []string `yaml:"allow_clients"`
		} `yaml:"dns"`
		Dashboard struct {
			Listen string `yaml:"listen"`
		} `yaml:"dashboard"`
		Lists []struct {
			Name string `yaml:"name"`
			URL  string `yaml:"url"`
		} `yaml:"lists"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return Settings{}, err
	}
	s := Settings{
		Listeners: []Listener{{"http proxy", c.HTTP.Listen}, {"dns", c.DNS.Listen}, {"dashboard", c.Dashboard.Listen}},
		LogPath:   filepath.Join(c.DataDir, "log/pixelwall.db"),
	}
	for _, l := range c.Lists {
		if l.URL != "" {
			s.URLLists = append(s.URLLists, l.Name)
		}
	}
	return s, nil
}

func newTestInstaller(t *testing.T, root string) (*Installer, *fakeManager, *bytes.Buffer) {
	t.Helper()
	l := testLayout
	l.Root = root
	unit, err := SystemdUnit(l)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeManager{root: root, unit: unit, state: StateNotInstalled}
	out := &bytes.Buffer{}
	in := &Installer{
		Layout:   l,
		Manager:  m,
		Settings: yamlSettings,
		Addrs: func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("192.168.1.23/24"), netip.MustParsePrefix("fd00:1::5/64")}, nil
		},
		Out: out,
	}
	return in, m, out
}

func TestInstallUninstallIntoTempRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the layout and unit are Linux's")
	}
	root := t.TempDir()
	in, m, out := newTestInstaller(t, root)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 192.168.1.23\nnameserver 192.168.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var checked string
	in.CheckDNS = func(addr string) error { checked = addr; return nil }
	if err := in.Install(); err != nil {
		t.Fatal(err)
	}
	t.Logf("install printed:\n%s", out)
	if want := []string{"install", "start"}; !reflect.DeepEqual(m.calls, want) {
		t.Errorf("manager calls %v, want %v", m.calls, want)
	}
	if checked != "0.0.0.0:53" {
		t.Errorf("DNS address checked before the start: %q, want 0.0.0.0:53", checked)
	}
	cfgPath := filepath.Join(root, "etc/pixelwall/config.yaml")
	fi, err := os.Stat(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("config mode %v, want 0644", fi.Mode().Perm())
	}
	cfg, _ := os.ReadFile(cfgPath)
	for _, want := range []string{"listen: 0.0.0.0:53", "listen: 0.0.0.0:8080", "listen: 127.0.0.1:8081",
		`allow_clients: ["127.0.0.0/8", "::1/128", "192.168.1.0/24", "fd00:1::/64"]`, "data_dir: /var/lib/pixelwall", `upstreams: ["192.168.1.1"]`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	di, err := os.Stat(filepath.Join(root, "var/lib/pixelwall"))
	if err != nil {
		t.Fatal(err)
	}
	if !di.IsDir() || di.Mode().Perm() != 0o700 {
		t.Errorf("data dir %v, want a directory with mode 0700", di.Mode())
	}
	if unit, err := os.ReadFile(m.unitPath()); err != nil || !strings.Contains(string(unit), "DynamicUser=yes") {
		t.Errorf("unit under the root: %v, %q", err, unit)
	}
	for _, want := range []string{"set the DNS server to 192.168.1.23.", "192.168.1.23:8080", "http://192.168.1.23:8080/proxy.pac", "dig @192.168.1.23", "also reachable at fd00:1::5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("next steps lack %q:\n%s", want, out)
		}
	}

	// An edited config survives a second install.
	edited := append(cfg, "# mine\n"...)
	if err := os.WriteFile(cfgPath, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.Uninstall(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.unitPath()); !os.IsNotExist(err) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/pixelwall")); err != nil {
		t.Errorf("data dir gone after uninstall without -purge: %v", err)
	}
	out.Reset()
	if err := in.Install(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(cfgPath); !bytes.Equal(got, edited) {
		t.Errorf("install replaced an existing config")
	}
	if !strings.Contains(out.String(), "keeping the existing config") {
		t.Errorf("install did not say it kept the config:\n%s", out)
	}

	// DynamicUser's state, where systemd would have moved it.
	private := filepath.Join(root, "var/lib/private/pixelwall")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	m.calls = nil
	if err := in.Uninstall(true); err != nil {
		t.Fatal(err)
	}
	if want := []string{"stop", "uninstall"}; !reflect.DeepEqual(m.calls, want) {
		t.Errorf("manager calls %v, want %v", m.calls, want)
	}
	for _, p := range []string{"etc/pixelwall", "var/lib/pixelwall", "var/lib/private/pixelwall", "etc/systemd/system/pixelwall.service"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall -purge (%v)", p, err)
		}
	}
	// Nothing outside the install's own paths was removed.
	for _, p := range []string{"etc", "var/lib/private", "etc/systemd/system"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestInstallWithDNSTakenDoesNotStart(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the layout and unit are Linux's")
	}
	in, m, out := newTestInstaller(t, t.TempDir())
	in.CheckDNS = func(addr string) error { return errors.New("port 53 held by: systemd-resolved") }
	if err := in.Install(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"install"}; !reflect.DeepEqual(m.calls, want) {
		t.Errorf("manager calls %v, want %v (installed, not started)", m.calls, want)
	}
	for _, want := range []string{"not started: port 53 held by: systemd-resolved", "sudo pixelwall service start"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
}

func TestInstallRefusesABinaryTheServiceCannotSee(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ProtectHome is systemd's")
	}
	root := t.TempDir()
	in, m, _ := newTestInstaller(t, root)
	in.Layout.Executable = "/home/ann/go/bin/pixelwall"
	err := in.Install()
	if err == nil || !strings.Contains(err.Error(), "/usr/local/bin/pixelwall") {
		t.Fatalf("Install() = %v, want an error saying where to copy the binary", err)
	}
	if len(m.calls) > 0 {
		t.Errorf("manager called: %v", m.calls)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !os.IsNotExist(err) {
		t.Errorf("files written before the refusal: %v", err)
	}
}

func TestStatus(t *testing.T) {
	root := t.TempDir()
	in, m, out := newTestInstaller(t, root)
	m.state = StateRunning
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	in.Settings = func(string) (Settings, error) {
		return Settings{
			Listeners: []Listener{{"http proxy", open.Addr().String()}, {"dns", closedAddr}},
			URLLists:  []string{"easyprivacy", "broken", "new"},
			LogPath:   "/var/lib/pixelwall/log/pixelwall.db",
		}, nil
	}
	lists := filepath.Join(root, "var/lib/pixelwall/lists")
	if err := os.MkdirAll(filepath.Join(root, "var/lib/pixelwall/log"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(lists, 0o700); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	for name, meta := range map[string]map[string]any{
		"easyprivacy": {"url": "https://x", "updated": when, "checked": when, "rules": 51234},
		"broken":      {"url": "https://y", "updated": when, "checked": when.Add(time.Hour), "rules": 7, "last_error": "HTTP 404"},
	} {
		b, _ := json.Marshal(meta)
		if err := os.WriteFile(filepath.Join(lists, name+".meta.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/pixelwall/log/pixelwall.db"), make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/pixelwall/log/pixelwall.db-wal"), make([]byte, 1<<19), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := in.Status("pixelwall test"); err != nil {
		t.Fatal(err)
	}
	t.Logf("status:\n%s", out)
	for _, want := range []string{
		"service: running (linux-systemd)",
		"http proxy  " + open.Addr().String(),
		"easyprivacy updated 2026-12-01 10:00, checked 2026-12-01 10:00, 51234 rules, ok",
		"broken      updated 2026-12-01 10:00, checked 2026-12-01 11:00, 7 rules, LAST CHECK FAILED: HTTP 404",
		"new         never downloaded",
		"log:     /var/lib/pixelwall/log/pixelwall.db, 3.5 MiB",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q", want)
		}
	}
	lines := strings.Split(out.String(), "\n")
	for _, l := range lines {
		switch {
		case strings.Contains(l, open.Addr().String()) && !strings.HasSuffix(l, " answering"):
			t.Errorf("open listener: %q, want answering", l)
		case strings.Contains(l, closedAddr) && !strings.HasSuffix(l, "not answering"):
			t.Errorf("closed listener: %q, want not answering", l)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64 // 0: no limit
	}{
		{"v2 service limit", map[string]string{
			"proc/self/cgroup": "0::/system.slice/pixelwall.service\n",
			"sys/fs/cgroup/system.slice/pixelwall.service/memory.max": "268435456\n",
			"sys/fs/cgroup/system.slice/memory.max":                   "max\n",
		}, 256 << 20},
		{"v2 lower limit on the slice", map[string]string{
			"proc/self/cgroup": "0::/system.slice/pixelwall.service\n",
			"sys/fs/cgroup/system.slice/pixelwall.service/memory.max": "536870912\n",
			"sys/fs/cgroup/system.slice/memory.max":                   "134217728\n",
		}, 128 << 20},
		{"v2 unlimited", map[string]string{
			"proc/self/cgroup": "0::/user.slice/user-1000.slice/session-2.scope\n",
			"sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/memory.max": "max\n",
		}, 0},
		{"v2 container (namespace root)", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "1073741824\n",
		}, 1 << 30},
		{"v1", map[string]string{
			"proc/self/cgroup": "12:pids:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "209715200\n",
		}, 200 << 20},
		{"v1 unlimited", map[string]string{
			"proc/self/cgroup": "4:memory:/process_api/x\n0::/\n",
			"sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":               "9223372036854771712\n",
		}, 0},
		{"hybrid: v2 without memory, v1 limit", map[string]string{
			"proc/self/cgroup": "4:cpu,memory:/a\n0::/a\n",
			"sys/fs/cgroup/memory/a/memory.limit_in_bytes": "104857600\n",
		}, 100 << 20},
		{"garbage", map[string]string{
			"proc/self/cgroup":           "0::/a\n",
			"sys/fs/cgroup/a/memory.max": "lots\n",
		}, 0},
		{"no cgroup file", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := MemoryLimit(root)
			if ok != (tc.want != 0) || got != tc.want {
				t.Errorf("MemoryLimit = %d, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	goLine := " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		override string
		want     string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}}, true, "",
			"pixelwall v1.2.3 (revision 0123456789ab, committed 2026-12-01T10:00:00Z, go1.26.8" + goLine},
		{"checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true, "",
			"pixelwall devel (revision abc with local changes, committed 2026-12-01T10:00:00Z, go1.26.8" + goLine},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "",
			"pixelwall devel (no revision recorded: built with -buildvcs=false or outside a git checkout, go1.26.8" + goLine},
		{"ldflags", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "v9.9.9",
			"pixelwall v9.9.9 (go1.26.8" + goLine},
		{"no build info", nil, false, "",
			"pixelwall devel (no revision recorded: built with -buildvcs=false or outside a git checkout, " + runtime.Version() + goLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Version(tc.bi, tc.ok, tc.override); got != tc.want {
				t.Errorf("Version() =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}
