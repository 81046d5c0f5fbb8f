package service

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version describes the build from its build info: the module version (or
// override, set with -ldflags, when not empty), the VCS revision and
// time, and the Go version and platform. A build from a checkout (module
// version "(devel)") says "devel"; a build without VCS stamping says so.
func Version(bi *debug.BuildInfo, ok bool, override string) string {
	v := override
	if v == "" && ok {
		v = bi.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, when string
	modified := false
	goVersion := runtime.Version()
	if ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var details []string
	switch {
	case rev != "":
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += " with local changes"
		}
		details = append(details, "revision "+rev)
		if when != "" {
			details = append(details, "committed "+when)
		}
	case v == "devel":
		details = append(details, "no revision recorded: built with -buildvcs=false or outside a git checkout")
	}
	details = append(details, goVersion+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return "pixelwall " + v + " (" + strings.Join(details, ", ") + ")"
}
