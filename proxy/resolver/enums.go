package resolver

import (
	"fmt"
	"slices"
	"strings"
)

// oneOf is the UnmarshalText of a string enum: b must be one of names.
func oneOf[T ~string](b []byte, names ...T) (T, error) {
	if v := T(b); slices.Contains(names, v) {
		return v, nil
	}
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return "", fmt.Errorf("%q: want %s or %s", b, strings.Join(s[:len(s)-1], ", "), s[len(s)-1])
}

// UnmarshalText accepts parallel and failover.
func (s *Strategy) UnmarshalText(b []byte) (err error) {
	*s, err = oneOf(b, StrategyParallel, StrategyFailover)
	return err
}

// UnmarshalText accepts null, nxdomain and refused.
func (m *BlockMode) UnmarshalText(b []byte) (err error) {
	*m, err = oneOf(b, BlockNull, BlockNXDomain, BlockRefused)
	return err
}

// UnmarshalText accepts auto, answer and forward.
func (l *LocalNames) UnmarshalText(b []byte) (err error) {
	*l, err = oneOf(b, LocalNamesAuto, LocalNamesAnswer, LocalNamesForward)
	return err
}

// checkEnums rejects values no UnmarshalText accepts; zero values are the
// defaults.
func (o *Options) checkEnums() error {
	for _, c := range []struct {
		name, v string
		set     interface{ UnmarshalText([]byte) error }
	}{{"Strategy", string(o.Strategy), new(Strategy)}, {"BlockMode", string(o.BlockMode), new(BlockMode)},
		{"LocalNames", string(o.LocalNames), new(LocalNames)}} {
		if c.v == "" {
			continue
		}
		if err := c.set.UnmarshalText([]byte(c.v)); err != nil {
			return fmt.Errorf("resolver: Options.%s %w", c.name, err)
		}
	}
	return nil
}
