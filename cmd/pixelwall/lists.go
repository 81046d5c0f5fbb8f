package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/pixelwall/pixelwall/blocklist"
)

// listSources gathers the lists to compile: the embedded defaults and the
// config's lists (unless noDefaults), the extra list files, and the config's
// allow and deny entries. A list that cannot be read is reported in warnings
// and left out; the others still load.
func listSources(cfg *Config, data string, extra []string, noDefaults bool) (srcs []blocklist.Source, warnings []string) {
	if !noDefaults {
		srcs = append(srcs, blocklist.Defaults()...)
		for _, l := range cfg.Lists {
			if l.Enabled != nil && !*l.Enabled {
				continue
			}
			format, _ := blocklist.ParseFormat(l.Format) // checked when the config was loaded
			path := l.Path
			if l.URL != "" {
				path = listCachePath(data, l.Name)
			}
			src, err := readList(l.Name, format, path)
			if err != nil {
				if l.URL != "" && errors.Is(err, fs.ErrNotExist) {
					err = fmt.Errorf("list %s: not downloaded yet; the embedded lists serve until it arrives", l.Name)
				}
				warnings = append(warnings, err.Error())
				continue
			}
			srcs = append(srcs, src)
		}
	}
	for _, path := range extra {
		src, err := readList(filepath.Base(path), blocklist.FormatAuto, path)
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		srcs = append(srcs, src)
	}
	if len(cfg.Allow) > 0 {
		var b strings.Builder
		for _, h := range cfg.Allow {
			b.WriteString("@@||" + h + "^\n")
		}
		srcs = append(srcs, blocklist.Source{Name: "allow", Format: blocklist.FormatAdblock, Text: b.String()})
	}
	if len(cfg.Deny) > 0 {
		srcs = append(srcs, blocklist.Source{Name: "deny", Format: blocklist.FormatDomains, Text: strings.Join(cfg.Deny, "\n")})
	}
	return srcs, warnings
}

// listCachePath is where a downloaded list is kept.
func listCachePath(data, name string) string {
	return filepath.Join(data, "lists", name+".txt")
}

func readList(name string, format blocklist.Format, path string) (blocklist.Source, error) {
	return blocklist.ReadListFile(name, format, path, 0)
}

// reportBadLines writes one line per list that had unusable lines, with the
// first few of them.
func reportBadLines(w io.Writer, m *blocklist.Matcher) {
	for _, st := range m.Lists() {
		if st.BadCount == 0 {
			continue
		}
		fmt.Fprintf(w, "list %s: %d bad lines (skipped; the rest loaded)\n", st.Name, st.BadCount)
		for i, b := range st.Bad {
			if i == 3 {
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", st.Name, b)
		}
	}
}
