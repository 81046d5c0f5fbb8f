package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// MaxListBytes is the largest list read, downloaded or local: a list is
// text of a few MiB, and reading a device or a runaway file whole would
// take the memory of the machine.
const MaxListBytes = 64 << 20

// ErrBinary rejects content that is not a text list.
var ErrBinary = errors.New("not a text list (a NUL byte or invalid UTF-8 in its first KiB)")

// ValidListName reports whether name may name a list: letters, digits,
// '.', '_' and '-', not starting with '.' (a list's name is also the name
// of its files in the cache directory).
func ValidListName(name string) error {
	switch {
	case name == "":
		return errors.New("a list name cannot be empty")
	case len(name) > 100:
		return fmt.Errorf("list name %.20q…: longer than 100 characters", name)
	case name[0] == '.':
		return fmt.Errorf("list name %q: cannot start with '.'", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(lowerASCII(c)) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("list name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

// checkText rejects b when its first KiB holds a NUL byte or is not UTF-8
// (a rune cut at the KiB's end is not held against it).
func checkText(b []byte) error {
	head := b[:min(len(b), 1024)]
	if bytes.IndexByte(head, 0) >= 0 {
		return ErrBinary
	}
	for len(head) > 0 {
		r, size := utf8.DecodeRune(head)
		if r == utf8.RuneError && size <= 1 {
			if len(head) < utf8.UTFMax && len(b) > 1024 && !utf8.FullRune(head) {
				return nil // cut by the KiB's end
			}
			return ErrBinary
		}
		head = head[size:]
	}
	return nil
}

// readLimited reads r whole, up to max bytes, and checks it is text.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooBig, max)
	}
	if err := checkText(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadSource reads a whole list from r: at most MaxListBytes, and text.
func ReadSource(name string, f Format, r io.Reader) (Source, error) {
	b, err := readLimited(r, MaxListBytes)
	if err != nil {
		return Source{}, fmt.Errorf("list %s: %w", name, err)
	}
	return Source{Name: name, Format: f, Text: string(b)}, nil
}

// ReadListFile reads the local list file at path: a regular file (not a
// directory, a device or a FIFO, which would never end or never start), of
// at most max bytes (MaxListBytes when max is 0), holding text.
func ReadListFile(name string, f Format, path string, max int64) (Source, error) {
	if max <= 0 {
		max = MaxListBytes
	}
	fail := func(err error) (Source, error) { return Source{}, fmt.Errorf("list %s: %s: %w", name, path, err) }
	info, err := os.Stat(path)
	if err != nil {
		return Source{}, fmt.Errorf("list %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return fail(fmt.Errorf("not a regular file (%s)", fileKind(info.Mode())))
	}
	// Non-blocking, in case a FIFO took the file's place since the Stat:
	// opening one for reading waits for a writer.
	file, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return Source{}, fmt.Errorf("list %s: %w", name, err)
	}
	defer file.Close()
	if info, err := file.Stat(); err != nil || !info.Mode().IsRegular() {
		return fail(errors.New("not a regular file"))
	}
	b, err := readLimited(file, max)
	if err != nil {
		return fail(err)
	}
	return Source{Name: name, Format: f, Text: string(b)}, nil
}

// fileKind names what a non-regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
