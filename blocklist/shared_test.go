package blocklist

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedData returns the path of a file in the workplace's shared test data
// (../shared/data beside the repository), or skips the test when it is
// absent. PIXELWALL_DATA overrides the directory.
func sharedData(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("PIXELWALL_DATA")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			tb.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(filepath.Join(d, "shared", "data")); err == nil && fi.IsDir() {
				dir = filepath.Join(d, "shared", "data")
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	p := filepath.Join(dir, name)
	if dir == "" {
		tb.Skipf("shared test data not found (looked for shared/data above the repository; set PIXELWALL_DATA): %s", name)
	}
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared test data %s absent: %v", name, err)
	}
	return p
}
