package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	kservice "github.com/kardianos/service"
)

// State is what the service manager says of the service.
type State int

const (
	StateUnknown State = iota
	StateNotInstalled
	StateStopped
	StateRunning
)

func (s State) String() string {
	switch s {
	case StateNotInstalled:
		return "not installed"
	case StateStopped:
		return "stopped"
	case StateRunning:
		return "running"
	}
	return "unknown"
}

// Manager is the system's service manager, holding the pixelwall service.
// Install registers and enables it (on Linux: writes the unit, enables it,
// reloads systemd) and fails when it is already installed; Uninstall
// reverses that.
type Manager interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (State, error)
	// Platform names the manager, e.g. linux-systemd.
	Platform() string
}

// SystemManager is the system's own service manager through
// github.com/kardianos/service, with the unit of SystemdUnit on Linux
// (where only systemd is supported: the others could not run the service
// unprivileged).
func SystemManager(l Layout) (Manager, error) {
	cfg := &kservice.Config{
		Name:        Name,
		DisplayName: "pixelwall",
		Description: "Blocks tracking pixels: HTTP proxy and DNS resolver",
		Executable:  l.Executable,
		Arguments:   l.arguments(),
		Option:      kservice.KeyValue{},
	}
	platform := kservice.ChosenSystem().String()
	if runtime.GOOS == "linux" {
		if platform != "linux-systemd" {
			return nil, fmt.Errorf("this system's service manager is %s: `service install` supports systemd on Linux (run `pixelwall run` from your init system instead)", platform)
		}
		unit, err := SystemdUnit(l)
		if err != nil {
			return nil, err
		}
		// The unit is complete: it contains no template actions for the
		// library's engine to expand.
		cfg.Option["SystemdScript"] = unit
	}
	s, err := kservice.New(program{}, cfg)
	if err != nil {
		return nil, err
	}
	return kardianos{s}, nil
}

// Unavailable is a Manager for a system whose service manager cannot be
// used: every call fails with err, and the status is unknown.
func Unavailable(err error) Manager { return unavailable{err} }

type unavailable struct{ err error }

func (u unavailable) Install() error         { return u.err }
func (u unavailable) Uninstall() error       { return u.err }
func (u unavailable) Start() error           { return u.err }
func (u unavailable) Stop() error            { return u.err }
func (u unavailable) Restart() error         { return u.err }
func (u unavailable) Status() (State, error) { return StateUnknown, u.err }
func (u unavailable) Platform() string       { return "none" }

type kardianos struct{ kservice.Service }

func (k kardianos) Status() (State, error) {
	st, err := k.Service.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return StateNotInstalled, nil
	case err != nil:
		return StateUnknown, err
	case st == kservice.StatusRunning:
		return StateRunning, nil
	case st == kservice.StatusStopped:
		return StateStopped, nil
	}
	return StateUnknown, nil
}

// program is the kardianos program of a Manager: the service is only
// controlled from here, never run.
type program struct{}

func (program) Start(kservice.Service) error { return nil }
func (program) Stop(kservice.Service) error  { return nil }

// runner is the kardianos program of Run: main runs in Start's goroutine,
// and Stop cancels its context and waits for its exit code.
type runner struct {
	main   func(context.Context) int
	cancel context.CancelFunc
	done   chan int
	code   int
}

func (r *runner) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan int, 1)
	go func() {
		code := r.main(ctx)
		if ctx.Err() == nil {
			os.Exit(code) // ended by itself (a listener could not start): the manager sees it exit
		}
		r.done <- code
	}()
	return nil
}

func (r *runner) Stop(kservice.Service) error {
	r.cancel()
	r.code = <-r.done
	return nil
}

// Run calls main, under the Windows service manager when that started the
// process (it must be answered, or it ends the service); elsewhere it only
// calls main: systemd and launchd run a plain process and stop it with a
// signal.
func Run(ctx context.Context, main func(context.Context) int) int {
	if runtime.GOOS != "windows" || kservice.Interactive() {
		return main(ctx)
	}
	r := &runner{main: main}
	s, err := kservice.New(r, &kservice.Config{Name: Name})
	if err != nil {
		return main(ctx)
	}
	if err := s.Run(); err != nil {
		return 1
	}
	return r.code
}
