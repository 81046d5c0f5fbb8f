package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// checkKeyMode refuses a key file that group or other may read or write.
// Windows has no such permission bits, so it is not checked there.
func checkKeyMode(keyPath string) error {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return fmt.Errorf("certs: checking CA key: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("certs: %s has mode %04o and is readable or writable by group or other; run `chmod 600 %s`, or if it may have leaked, %s",
			keyPath, mode, keyPath, regenerateHint)
	}
	return nil
}

// ensureDir creates dir with mode 0700 if it does not exist.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("certs: %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("certs: checking CA directory: %w", err)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("certs: creating CA directory: %w", err)
	}
	// MkdirAll's mode is subject to the umask; make sure it is exactly 0700.
	if err := os.Chmod(dir, dirPerm); err != nil {
		return fmt.Errorf("certs: setting mode of CA directory: %w", err)
	}
	return nil
}

// fileExists reports whether path exists, failing if it is not a regular
// file.
func fileExists(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certs: checking %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("certs: %s is not a regular file", path)
	}
	return true, nil
}

// fileData is a file for install to write.
type fileData struct {
	path string
	data []byte
	perm fs.FileMode
}

// install writes each file to a temporary file in its directory, fsyncs it,
// and only when all are written renames them into place in order, then
// fsyncs the directories. A failure leaves no temporary files behind.
func install(files ...fileData) (err error) {
	tmps := make([]string, 0, len(files))
	renamed := 0
	defer func() {
		if err != nil {
			for _, tmp := range tmps[renamed:] {
				os.Remove(tmp)
			}
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(f)
		if err != nil {
			return err
		}
		tmps = append(tmps, tmp)
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], f.path); err != nil {
			return fmt.Errorf("certs: replacing %s: %w", f.path, err)
		}
		renamed++
	}
	synced := make(map[string]bool)
	for _, f := range files {
		if dir := filepath.Dir(f.path); !synced[dir] {
			synced[dir] = true
			syncDir(dir)
		}
	}
	return nil
}

// writeTemp writes f.data to a new temporary file beside f.path with mode
// f.perm, fsyncs and closes it, and returns its name.
func writeTemp(f fileData) (name string, err error) {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	tf, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	defer func() {
		if err != nil {
			tf.Close()
			os.Remove(tf.Name())
		}
	}()
	if err := tf.Chmod(f.perm); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if _, err := tf.Write(f.data); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if err := tf.Sync(); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if err := tf.Close(); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	return tf.Name(), nil
}

// syncDir fsyncs a directory so that renames in it are durable. It is best
// effort: some systems (Windows, some file systems) cannot fsync directories,
// and the rename has already happened.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
