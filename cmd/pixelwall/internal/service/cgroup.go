package service

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryLimit is the memory limit of the cgroup this process runs in
// (systemd's MemoryMax=, a container's memory limit): the lowest limit
// set on its cgroup or on one above it, read from root's
// /proc/self/cgroup and /sys/fs/cgroup (root is "/" for the real system).
// ok is false when no limit is set or none can be read (not Linux).
// cgroup v2 (memory.max) is tried first, then v1 (memory.limit_in_bytes).
func MemoryLimit(root string) (limit int64, ok bool) {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, false
	}
	var v2, v1 string
	v2Found, v1Found := false, false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, v2Found = parts[2], true
		case hasController(parts[1], "memory"):
			v1, v1Found = parts[2], true
		}
	}
	base := filepath.Join(root, "sys/fs/cgroup")
	if v2Found {
		if l, ok := lowestLimit(base, v2, "memory.max"); ok {
			return l, true
		}
	}
	if v1Found {
		return lowestLimit(filepath.Join(base, "memory"), v1, "memory.limit_in_bytes")
	}
	return 0, false
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// lowestLimit reads file in the cgroup's directory and every one above it
// up to base, and returns the lowest limit set. Inside a container the
// cgroup path may name directories not mounted there: those are skipped.
func lowestLimit(base, cgroup, file string) (int64, bool) {
	var lowest int64
	found := false
	dir := filepath.Clean("/" + cgroup)
	for {
		if l, ok := readLimit(filepath.Join(base, dir, file)); ok && (!found || l < lowest) {
			lowest, found = l, true
		}
		if dir == "/" {
			break
		}
		dir = filepath.Dir(dir)
	}
	return lowest, found
}

// noLimitV1 is above any real limit: cgroup v1 writes "no limit" as the
// largest page-aligned int64.
const noLimitV1 = 1 << 62

func readLimit(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= noLimitV1 {
		return 0, false
	}
	return n, true
}
