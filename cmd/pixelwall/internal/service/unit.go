package service

import (
	"errors"
	"fmt"
	"strings"
)

// SystemdUnit is the unit `service install` writes on Linux.
//
// The service runs as a user systemd allocates while it runs
// (DynamicUser=): nothing to create at install or to remove at uninstall,
// and the UID owns no file outside the state directory, which systemd
// creates and hands to it (StateDirectory=; an existing /var/lib/pixelwall
// is moved to /var/lib/private/pixelwall and given to that user). Its only
// privilege is binding ports below 1024 (DNS on 53); the rest of the system
// is read-only or hidden. SIGHUP (systemctl reload) reloads the lists.
// Output goes to the journal.
func SystemdUnit(l Layout) (string, error) {
	state, ok := l.stateDirectory()
	if !ok {
		return "", fmt.Errorf("data dir %s: the systemd unit keeps its state under /var/lib", l.DataDir)
	}
	if l.Executable == "" || l.Executable[0] != '/' {
		return "", errors.New("the executable needs an absolute path")
	}
	exec := []string{systemdQuote(l.Executable)}
	for _, a := range l.arguments() {
		exec = append(exec, systemdQuote(a))
	}
	var b strings.Builder
	line := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
			b.WriteByte('\n')
		}
	}
	line("[Unit]",
		"Description=pixelwall: blocks tracking pixels (HTTP proxy and DNS resolver)",
		"Documentation=https://github.com/pixelwall/pixelwall",
		"Wants=network-online.target",
		"After=network-online.target",
		"",
		"[Service]",
		"Type=simple",
		"ExecStart="+strings.Join(exec, " "),
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"RestartSec=5s",
		"DynamicUser=yes",
		"StateDirectory="+state,
		"StateDirectoryMode=0700",
		"UMask=0077",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"PrivateDevices=yes",
		"PrivateMounts=yes",
		"ProtectProc=invisible",
		"ProtectKernelTunables=yes",
		"ProtectKernelModules=yes",
		"ProtectKernelLogs=yes",
		"ProtectControlGroups=yes",
		"ProtectClock=yes",
		"ProtectHostname=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"RestrictNamespaces=yes",
		"RestrictRealtime=yes",
		"RestrictSUIDSGID=yes",
		"LockPersonality=yes",
		"MemoryDenyWriteExecute=yes",
		"SystemCallArchitectures=native",
		"StandardOutput=journal",
		"StandardError=journal",
		"SyslogIdentifier="+Name,
		"",
		"[Install]",
		"WantedBy=multi-user.target")
	return b.String(), nil
}

// systemdQuote quotes an ExecStart word when it needs it: systemd splits on
// spaces and reads backslashes, quotes and $ (expanding variables) itself.
func systemdQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// unreachableDirs are where the unit cannot run a binary from: ProtectHome
// hides homes, PrivateTmp gives the service its own /tmp.
var unreachableDirs = []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"}

// checkExecutable says when the unit could not run the binary.
func checkExecutable(exe string) error {
	for _, d := range unreachableDirs {
		if strings.HasPrefix(exe, d) {
			return fmt.Errorf("%s is under %s, which the service cannot see (ProtectHome, PrivateTmp): "+
				"copy it first (sudo install -m 0755 %s /usr/local/bin/pixelwall) and run that one's `service install`", exe, d, exe)
		}
	}
	return nil
}
