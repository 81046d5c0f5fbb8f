package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the controller side the test types
// into, and the terminal the command reads as its stdin.
func openPTY(t *testing.T) (controller, tty *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { controller.Close() })
	fd := int(controller.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return controller, tty
}

// typeWhenSilent waits until the terminal no longer echoes (the command is
// reading a password) and types line.
func typeWhenSilent(t *testing.T, controller, tty *os.File, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal still echoes: the password would be shown")
		}
	}
	if _, err := io.WriteString(controller, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardPasswordTerminal: on a terminal the password is asked twice
// and never echoed; the terminal echoes again afterwards.
func TestDashboardPasswordTerminal(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string
		wantErr       string
	}{
		{"same twice", "correct horse battery", "correct horse battery", ""},
		{"differ", "correct horse battery", "correct horse staple", "the two passwords differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			controller, tty := openPTY(t)
			var out, errOut syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(context.Background(), []string{"dashboard", "password"}, tty, &out, &errOut) }()
			typeWhenSilent(t, controller, tty, tc.first)
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errOut.String(), "Again: "); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no second prompt; stderr %q", errOut.String())
				}
			}
			typeWhenSilent(t, controller, tty, tc.second)
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("dashboard password did not finish")
			}
			// What the terminal showed, up to a marker written after the
			// command: the prompts went to stderr, so anything else
			// there is an echo.
			if _, err := io.WriteString(tty, "END\n"); err != nil {
				t.Fatal(err)
			}
			var shown []byte
			for buf := make([]byte, 256); !strings.Contains(string(shown), "END"); {
				n, err := controller.Read(buf)
				if err != nil {
					t.Fatalf("reading the terminal: %v", err)
				}
				shown = append(shown, buf[:n]...)
			}
			if strings.Contains(string(shown), "horse") {
				t.Errorf("the terminal showed %q: the password was echoed", shown)
			}
			tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err != nil || tio.Lflag&unix.ECHO == 0 {
				t.Errorf("echo not restored after the prompt (%v)", err)
			}
			if !strings.Contains(errOut.String(), "Password: ") {
				t.Errorf("stderr %q lacks the prompt", errOut.String())
			}
			if tc.wantErr != "" {
				if code != 1 || !strings.Contains(errOut.String(), tc.wantErr) || out.String() != "" {
					t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out.String(), errOut.String(), tc.wantErr)
				}
				return
			}
			if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out.String())), []byte(tc.first)) != nil {
				t.Errorf("exit %d, stdout %q, stderr %q; want the password's hash", code, out.String(), errOut.String())
			}
		})
	}
}
