package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// duration is a time.Duration written as "10s", "1m30s" or "30d".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// parseDuration reads a duration as time.ParseDuration does, with days
// ("d") as a further unit written first: "30d", "1d12h". Negative
// durations are errors. Every duration of the config and the command line
// is read with it.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration like 90s, 10m, 12h, 30d or 1d12h", s)
	days, rest, hasDays := strings.Cut(s, "d")
	var total time.Duration
	if hasDays {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || n > 100000 {
			return 0, bad
		}
		total = time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return total, nil
		}
		s = rest
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || strings.HasPrefix(s, "+") {
		return 0, bad
	}
	return total + v, nil
}

// durationFlag is a flag.Value for a duration read with parseDuration; set
// says whether it was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	switch {
	case f == nil:
		return ""
	case f.d > 0 && f.d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(f.d/(24*time.Hour)), 10) + "d"
	case f.d > 0 && f.d%time.Hour == 0:
		return strconv.FormatInt(int64(f.d/time.Hour), 10) + "h"
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return errors.New("not a duration like 90s, 10m, 12h, 30d or 1d12h")
	}
	f.d, f.set = d, true
	return nil
}
